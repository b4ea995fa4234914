using Joules.Simulation.Settings;
using static Joules.Simulation.Settings.Settings;
using S = Joules.Simulation.Settings.SimulateSettings;

namespace Joules.Serving;

/// <summary>
/// Every setting of `joules serve`, declared once: its own (engine, address, drain) and the engine and scheduler settings
/// it shares with `joules simulate` (the same declarations, so names, defaults and checks agree; serving defaults are
/// vLLM's).
/// </summary>
public static class ServeSettings
{
    public const string Gpu = "gpu";
    public const string Sim = "sim";

    public static readonly Setting<string> Engine = Choice("engine",
        "gpu: the calibration transformer on a CUDA GPU (random weights, real kernels); sim: no GPU, each iteration waits what the cost model prices it at",
        Gpu, [Gpu, Sim]);
    public static readonly Setting<string> Host = new("host", "Address to listen on: an IP address of this machine (0.0.0.0 or :: for all interfaces) or localhost",
        "0.0.0.0 (all interfaces, as vLLM)", "an IP address or localhost (give the port with --port)", ParseHost);
    public static readonly Setting<int> Port = Int("port", "TCP port to listen on", "8000", min: 1, max: 65535);
    public static readonly Setting<string> ServedModelName = Text("served-model-name", "Model name clients send in 'model'", "the model card's name", "a name");
    public static readonly Setting<int> Device = Int("device", "CUDA device ordinal (--engine gpu)", "0", min: 0);
    public static readonly Setting<double> DrainTimeout = Double("drain-timeout", "Seconds to let running requests finish after Ctrl-C or SIGTERM before aborting them", "30", min: 0);
    public static readonly Setting<string> IterationLog = Text("iteration-log", "Write every iteration (times, shape, the cost model's prediction) to this Parquet file", "", "a file");
    public static readonly Setting<bool> CudaGraphs = Switch("cuda-graphs", "Replay decode-only iterations through CUDA graphs, as the calibration measured them (--engine gpu)", "on");
    public static readonly Setting<int> Seed = Int("seed", "Seed of the random weights (--engine gpu)", "1234");
    public static readonly Setting<string> DecodeKernel = Choice("decode-kernel",
        "Decode-attention kernel (--engine gpu): tensor-core, or work-list, the CUDA-core kernel that measured the work-list-engine profiles kept beside the shipped ones (serve it to validate runs priced by those)",
        Joules.Calibration.Engine.DecodeKernels.Names[Joules.Calibration.Engine.DecodeKernel.TensorCore],
        [Joules.Calibration.Engine.DecodeKernels.Names[Joules.Calibration.Engine.DecodeKernel.TensorCore], Joules.Calibration.Engine.DecodeKernels.Names[Joules.Calibration.Engine.DecodeKernel.WorkList]]);

    public static readonly Setting<string> PrefillAttention = Choice("prefill-attention",
        "Prefill attention (--engine gpu): joules, the engine's own kernel; cudnn, cuDNN's fused flash attention (what the shipped H200 profiles measured) through plans bucketed by chunk count, length and cache pages; auto, cuDNN where it loads and plans. joules until the bucketed plans are validated on a GPU",
        Joules.Calibration.Engine.PrefillAttentions.Names[Joules.Calibration.Engine.PrefillAttention.Joules],
        [.. Joules.Calibration.Engine.PrefillAttentions.Names.Values]);

    // Kestrel reads any other host name as "every interface" without a word, so a typo or a URL would serve on all of
    // them: only what names one address (or localhost, its loopback) is accepted. IPv4 must be a plain dotted quad, not
    // the shorthands IPAddress.TryParse also takes ("1", "127.1", hex); IPv6 may come in brackets, as in a URL.
    private static bool ParseHost(string text, out string host)
    {
        host = text.Length > 2 && text[0] == '[' && text[^1] == ']' ? text[1..^1] : text;
        if (string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase)) return true;
        if (!System.Net.IPAddress.TryParse(host, out var ip)) return false;
        return ip.AddressFamily switch
        {
            System.Net.Sockets.AddressFamily.InterNetworkV6 => !host.Contains('[') && !host.Contains(']'),
            System.Net.Sockets.AddressFamily.InterNetwork => ip.ToString() == text,
            _ => false,
        };
    }

    /// <summary>Settings shared with `joules simulate`.</summary>
    public static readonly IReadOnlyList<Setting> Shared =
    [
        S.Model, S.Gpu, S.CostModel, S.Profile, S.Batching, S.ChunkedPrefill, S.MaxNumBatchedTokens, S.MaxNumSeqs, S.MaxModelLen,
        S.BlockSize, S.GpuMemoryUtilization, S.KvBlocks, S.SchedulerReserveFullIsl, S.PrefixCaching,
    ];

    /// <summary>Every setting of `joules serve`, in the order --help lists them.</summary>
    public static readonly IReadOnlyList<Setting> All =
        [Engine, Host, Port, ServedModelName, Device, DrainTimeout, IterationLog, CudaGraphs, Seed, DecodeKernel, PrefillAttention, .. Shared];
}
