namespace Joules.Profiles.Interconnect;

/// <summary>Duration of one all-reduce across the GPUs of an instance: where a measured NCCL table can replace the analytic model.</summary>
public interface IAllReduceModel
{
    /// <summary>Seconds one all-reduce of <paramref name="bytes"/> bytes (each rank's buffer) takes over <paramref name="ranks"/> GPUs; 0 for a single rank.</summary>
    double Time(double bytes, int ranks);
}

/// <summary>Which all-reduce algorithm <see cref="AlphaBetaAllReduce"/> prices.</summary>
public enum AllReduceAlgorithm
{
    /// <summary>Ring: 2(p-1) steps, each moving bytes/p; bandwidth optimal.</summary>
    Ring,
    /// <summary>Tree (reduce then broadcast): 2 ceil(log2 p) steps, each rank sending and receiving the whole buffer.</summary>
    Tree,
    /// <summary>The faster of the two for each call, as NCCL's tuner picks per message size.</summary>
    Fastest,
}

/// <summary>
/// The alpha-beta model of an all-reduce: a fixed cost per call, a latency per algorithm step, and the bytes
/// each rank must move over the bus bandwidth. Ring: t = a0 + 2(p-1) a + 2(p-1)/p n / B; tree:
/// t = a0 + 2 ceil(log2 p) a + 2 n / B (NCCL's own cost model has the same shape: a base latency plus a
/// per-step hardware latency, and bus bandwidth converted to algorithm bandwidth by 2(p-1)/p for ring and
/// 2 for tree).
/// </summary>
public sealed class AlphaBetaAllReduce : IAllReduceModel
{
    /// <summary>Per-call latency used when a GPU card gives none: 5 us, measured class for NCCL over NVLink (about 6 us for two H100s, NVIDIA/nccl#1259).</summary>
    public const double DefaultBaseLatencySeconds = 5e-6;

    /// <summary>Per-step latency used when a GPU card gives none: 0.5 us (NCCL's tuning model: 0.47 us per NVLink hop for its low-latency protocol).</summary>
    public const double DefaultHopLatencySeconds = 0.5e-6;

    /// <param name="baseLatencySeconds">Fixed cost of a call.</param>
    /// <param name="hopLatencySeconds">Latency of one algorithm step.</param>
    /// <param name="busBandwidthBytesPerSecond">Bus bandwidth (bytes/s) the transfers reach.</param>
    /// <param name="algorithm">Which algorithm to price.</param>
    public AlphaBetaAllReduce(double baseLatencySeconds, double hopLatencySeconds, double busBandwidthBytesPerSecond, AllReduceAlgorithm algorithm = AllReduceAlgorithm.Fastest)
    {
        if (!(baseLatencySeconds >= 0) || !(hopLatencySeconds >= 0))
            throw new ArgumentException($"all-reduce latencies must be zero or positive (got {baseLatencySeconds} s per call, {hopLatencySeconds} s per step)");
        if (!(busBandwidthBytesPerSecond > 0) || double.IsInfinity(busBandwidthBytesPerSecond))
            throw new ArgumentException($"all-reduce bus bandwidth must be positive and finite (got {busBandwidthBytesPerSecond} bytes/s)");
        BaseLatencySeconds = baseLatencySeconds;
        HopLatencySeconds = hopLatencySeconds;
        BusBandwidth = busBandwidthBytesPerSecond;
        Algorithm = algorithm;
    }

    /// <summary>The model a GPU card describes: its all-reduce bus bandwidth (else its line rate) and latencies (else the defaults).</summary>
    public static AlphaBetaAllReduce ForGpu(GpuSpec gpu, AllReduceAlgorithm algorithm = AllReduceAlgorithm.Fastest)
    {
        ArgumentNullException.ThrowIfNull(gpu);
        var bus = gpu.AllReduceBusGBs ?? gpu.InterconnectGBs;
        if (!(bus > 0))
            throw new ArgumentException($"GPU '{gpu.Name}': interconnect_gbs / allreduce_bus_gbs must be positive to price tensor-parallel all-reduce (got {bus})");
        var a0 = gpu.AllReduceBaseLatencyUs is { } b ? b * 1e-6 : DefaultBaseLatencySeconds;
        var ah = gpu.AllReduceHopLatencyUs is { } h ? h * 1e-6 : DefaultHopLatencySeconds;
        if (!(a0 >= 0) || !(ah >= 0))
            throw new ArgumentException($"GPU '{gpu.Name}': allreduce_base_latency_us and allreduce_hop_latency_us must be zero or positive");
        return new AlphaBetaAllReduce(a0, ah, bus * 1e9, algorithm);
    }

    public double BaseLatencySeconds { get; }
    public double HopLatencySeconds { get; }

    /// <summary>Bus bandwidth in bytes per second.</summary>
    public double BusBandwidth { get; }

    public AllReduceAlgorithm Algorithm { get; }

    public double Time(double bytes, int ranks) => Algorithm switch
    {
        AllReduceAlgorithm.Ring => Ring(bytes, ranks),
        AllReduceAlgorithm.Tree => Tree(bytes, ranks),
        _ => Math.Min(Ring(bytes, ranks), Tree(bytes, ranks)),
    };

    /// <summary>Ring all-reduce: 2(p-1) steps (reduce-scatter then all-gather), each rank moving 2(p-1)/p of the buffer.</summary>
    public double Ring(double bytes, int ranks) =>
        ranks <= 1 ? 0 : BaseLatencySeconds + 2.0 * (ranks - 1) * HopLatencySeconds + 2.0 * (ranks - 1) / ranks * bytes / BusBandwidth;

    /// <summary>Tree all-reduce: up then down a binary tree, 2 ceil(log2 p) steps, each rank moving the buffer twice.</summary>
    public double Tree(double bytes, int ranks) =>
        ranks <= 1 ? 0 : BaseLatencySeconds + 2.0 * CeilLog2(ranks) * HopLatencySeconds + 2.0 * bytes / BusBandwidth;

    private static int CeilLog2(int n)
    {
        var k = 0;
        while ((1L << k) < n) k++;
        return k;
    }
}

/// <summary>
/// Tensor-parallel communication of one iteration: two all-reduces per layer (after attention's output
/// projection and after the MLP's down projection, Megatron-style), each of the iteration's hidden states,
/// tokens x hidden x bytes per element.
/// </summary>
public sealed class TensorParallelComm
{
    /// <param name="allReduce">Prices one all-reduce.</param>
    /// <param name="model">The model whose layers and hidden size set the calls and bytes.</param>
    /// <param name="tensorParallel">GPUs per instance (ranks of each all-reduce).</param>
    public TensorParallelComm(IAllReduceModel allReduce, ModelCard model, int tensorParallel)
    {
        ArgumentNullException.ThrowIfNull(allReduce);
        ArgumentNullException.ThrowIfNull(model);
        if (tensorParallel < 1) throw new ArgumentOutOfRangeException(nameof(tensorParallel), $"tensor-parallel degree must be at least 1, got {tensorParallel}");
        AllReduce = allReduce;
        TensorParallel = tensorParallel;
        CallsPerIteration = 2 * model.Layers;
        BytesPerToken = (double)model.Hidden * model.BytesPerElement;
        // The alpha-beta model is two lines in the token count at a fixed tp: precomputed, since this runs on every estimate.
        if (allReduce is AlphaBetaAllReduce ab && tensorParallel > 1)
        {
            _lines = true;
            var ring = ab.Algorithm != AllReduceAlgorithm.Tree;
            var tree = ab.Algorithm != AllReduceAlgorithm.Ring;
            (_ringBase, _ringPerToken) = ring ? Line(ab.Ring) : (double.PositiveInfinity, 0);
            (_treeBase, _treePerToken) = tree ? Line(ab.Tree) : (double.PositiveInfinity, 0);
        }
    }

    private readonly bool _lines;
    private readonly double _ringBase, _ringPerToken, _treeBase, _treePerToken;

    // Calls per iteration x (intercept, slope per token) of one all-reduce as a function of the iteration's tokens.
    private (double Base, double PerToken) Line(Func<double, int, double> time)
    {
        var zero = time(0, TensorParallel);
        return (CallsPerIteration * zero, CallsPerIteration * (time(BytesPerToken, TensorParallel) - zero));
    }

    public IAllReduceModel AllReduce { get; }
    public int TensorParallel { get; }

    /// <summary>All-reduce calls per iteration: two per layer.</summary>
    public int CallsPerIteration { get; }

    /// <summary>Bytes each all-reduce carries per token of the iteration: hidden x bytes per element.</summary>
    public double BytesPerToken { get; }

    /// <summary>Seconds of all-reduce in an iteration over <paramref name="tokens"/> tokens; 0 for tp = 1 or no tokens.</summary>
    public double Seconds(long tokens)
    {
        if (TensorParallel <= 1 || tokens <= 0) return 0;
        if (_lines) return Math.Min(_ringBase + _ringPerToken * tokens, _treeBase + _treePerToken * tokens);
        return CallsPerIteration * AllReduce.Time(tokens * BytesPerToken, TensorParallel);
    }
}
