using static Joules.Simulation.Settings.Settings;

namespace Joules.Simulation.Settings;

/// <summary>
/// Every setting of a simulated scenario, declared once. `joules simulate` makes one option per entry
/// (<c>--max-num-seqs</c>), scenario files accept the same names in snake_case (<c>max_num_seqs</c>), and
/// <see cref="ScenarioSpec.Resolve"/> reads them. Serving defaults are vLLM's.
/// </summary>
public static class SimulateSettings
{
    public static readonly Setting<string> Name = Text("name", "Scenario name shown in tables and used for its output folder", "default (scenario-N in a scenario file)", "a name");
    public static readonly Setting<string> CostModel = Text("cost-model",
        "How iterations are priced: auto (the measured profile shipped for this GPU, model and tp, else a derived one under calibration/derived with a note, else roofline), profile (measured; see --profile) or roofline (analytic datasheet estimate)",
        "auto", "a cost-model kind (auto, profile, roofline)");
    public static readonly Setting<string> Profile = Text("profile", "Measured calibration profile (profile.parquet from `joules calibrate`); GPU, model and tp default to the profile's", "", "a profile file");
    public static readonly Setting<string> Gpu = Text("gpu", "GPU datasheet name (h200, h100-sxm, a100-sxm, ...) or JSON file",
        "h200, the GPU with shipped measured profiles (or the first GPU with a measured profile for the model)", "a GPU name or file");
    public static readonly Setting<string> Model = Text("model", "Model card name (llama-3.1-8b, llama-3.1-70b, ...) or JSON file", ScenarioSpec.DefaultModel, "a model name or file", alias: "-m");
    public static readonly Setting<int> Tp = Int("tp", "Tensor-parallel GPUs per instance", "1", min: 1);
    /// <summary>Most instances one simulation takes: each holds its scheduler and KV accounting (about 20 KB), and a million took 78 s and 20 GB on the development VM; larger fleets are simulated a slice at a time and scaled.</summary>
    public const int MaxInstances = 100_000;
    public static readonly Setting<int> Instances = Int("instances", $"Model replicas in the cluster (at most {MaxInstances:N0})", "8", min: 1, max: MaxInstances, alias: "-n");
    public static readonly Setting<string> Autoscaler = Choice("autoscaler",
        "How many of --instances serve over time: fixed (all), reactive (Kubernetes HPA on --scale-signal), schedule (--schedule by hour), predictive (forecast rate vs. the TPOT target)",
        "fixed", Autoscaling.AutoscalerNames.All);
    public static readonly Setting<int> MinInstances = Int("min-instances", "Fewest serving instances under an autoscaler; 0 allows scale-to-zero (the first request then waits for a cold start)", "1", min: 0);
    public static readonly Setting<string> ScaleSignal = Choice("scale-signal", "What the reactive autoscaler holds near --scale-target: requests (running + waiting per instance) or kv (KV-cache use)", "requests", ["requests", "kv"]);
    public static readonly Setting<double> ScaleTarget = Double("scale-target", "Reactive target per instance: requests in flight, or a KV-use fraction", "32 requests (0.7 for kv)", min: 0, minExclusive: true);
    public static readonly Setting<double> ScaleInterval = Double("scale-interval", "Seconds between autoscaling decisions", "15 (HPA's sync period)", min: 0, minExclusive: true);
    public static readonly Setting<double> ScaleUpWindow = Double("scale-up-window", "Scale-up stabilisation window, seconds", "0 (HPA's)", min: 0);
    public static readonly Setting<double> ScaleDownWindow = Double("scale-down-window", "Scale-down stabilisation window, seconds", "300 (HPA's)", min: 0);
    public static readonly Setting<string> Schedule = Text("schedule", "Instances by hour of day (UTC) for --autoscaler schedule, e.g. 0:2,8:6,18:4", "", "HOUR:INSTANCES,...");
    public static readonly Setting<double> ScaleHeadroom = Double("scale-headroom", "Spare capacity the predictive autoscaler keeps above its forecast", "0.2", min: 0);
    public static readonly Setting<string> WeightsFrom = Choice("weights-from", "Where a cold instance loads its weights from (bandwidth in the server card)", "nvme", ["host-memory", "nvme", "network"]);
    public static readonly Setting<string> Router = Choice("router", "Routing policy", RouterNames.LeastOutstanding, RouterNames.All, alias: "-r");
    public static readonly Setting<bool> OutputLengthOracle = Switch("output-length-oracle",
        "Research only: least-outstanding routes by true remaining output tokens, which no real router knows", "off");
    public static readonly Setting<string> Mode = Choice("mode", "online (trace arrival times) or offline (the whole trace as a backlog at time 0)", "online", ["online", "offline"]);
    public static readonly Setting<string> Batching = Choice("batching", "continuous (vLLM V1 iteration-level batching) or static (a batch runs until its longest member is done)", "continuous", ["continuous", "static"]);
    public static readonly Setting<bool> ChunkedPrefill = Switch("chunked-prefill", "Split prompts over iterations to fit the token budget (vLLM V1 default)", "on");
    public static readonly Setting<int> MaxNumBatchedTokens = Int("max-num-batched-tokens", "Token budget of one iteration",
        "vLLM's: 8192 online and 16384 offline on GPUs of 70 GB or more (A100 excepted), else 2048 and 8192; max(max-model-len, 2048) without chunked prefill", min: 1);
    public static readonly Setting<int> MaxNumSeqs = Int("max-num-seqs", "Most sequences running at once", "vLLM's: 1024 on GPUs of 70 GB or more (A100 excepted), else 256", min: 1);
    public static readonly Setting<int> MaxModelLen = Int("max-model-len", "Longest prompt plus output accepted; longer requests are rejected (reason max-model-len)", "the model card's maximum context", min: 2);
    public static readonly Setting<int> BlockSize = Int("block-size", "KV-cache block size in tokens", "16", min: 1);
    public static readonly Setting<double> GpuMemoryUtilization = Double("gpu-memory-utilization", "Fraction of GPU memory for weights, activations and KV cache", "0.9", min: 0, minExclusive: true, max: 1);
    public static readonly Setting<int> KvBlocks = Int("kv-blocks", "Override the KV-cache capacity per instance, in blocks", "from GPU memory", min: 1);
    public static readonly Setting<bool> SchedulerReserveFullIsl = Switch("scheduler-reserve-full-isl",
        "Admit a waiting request only if its whole prompt (and what it has generated, if preempted) fits in the free KV blocks, not merely its first chunk (vLLM's default since March 2026; off: the first chunk's blocks are enough, as older vLLM)", "on");
    public static readonly Setting<bool> PrefixCaching = Switch("prefix-caching",
        "Reuse cached KV blocks: identical prefixes of traces with block hashes (Mooncake hash_ids) and a preempted request's own blocks (vLLM V1 default)", "on");
    public static readonly Setting<int> HashBlockTokens = Int("hash-block-tokens", "Tokens each trace block hash covers (Mooncake: 512); a multiple of block-size", "512", min: 1);
    public static readonly Setting<double> IterationOverheadMs = Double("iteration-overhead-ms",
        "Host time added to every iteration that a measured profile does not hold (scheduling, sampling copy-back, launches between iterations), at idle power; validating a served run, the figure the server measured unless this is given",
        "0", min: 0);
    public static readonly Setting<double> TtftSlo = Double("ttft-slo", "TTFT target in seconds", "2", min: 0, minExclusive: true);
    public static readonly Setting<double> TpotSlo = Double("tpot-slo", "TPOT target in seconds", "0.1", min: 0, minExclusive: true);
    public static readonly Setting<string> Node = Text("node",
        "Server card for host power per GPU (CPUs, memory, NICs, fans, NVSwitches, power-supply loss): hgx-h200-8, hgx-h100-8, a JSON file, or none for GPU-only figures",
        "the catalogue's server card for the GPU (none when it has none)", "a node card name or file, or none");
    public static readonly Setting<double> Pue = Double("pue", "Power usage effectiveness of the facility", "1", min: 1);
    public static readonly Setting<double> Carbon = Double("carbon", "Grid carbon intensity, g CO2 per kWh", "not set", min: 0);
    public static readonly Setting<double> Price = Double("price", "Electricity price per kWh", "not set", min: 0);
    public static readonly Setting<int> Seed = Int("seed", "Random seed (synthetic trace, random router)", "42");
    public static readonly Setting<double> PowerBin = Double("power-bin", "Width of power-timeline bins in seconds",
        "the smallest of 1, 2, 5, 10, 15, 30, 60 s ... that keeps power.parquet under about 1,000,000 rows", min: 0, minExclusive: true);
    public static readonly Setting<int> SmClock = Int("sm-clock",
        "Lock every GPU's SM clock at this many MHz (the fixed governor); priced from the profile's measured clock sweep when it has one, else by the modelled frequency scaling (reports say which)",
        "the card's own clock management, as profiled", min: 1);
    public static readonly Setting<string> ClockGovernor = Choice("clock-governor",
        "How SM clocks are chosen: default (the card's own management, as profiled), fixed (--sm-clock), per-phase (--prefill-clock for iterations with prefill work, --decode-clock for decode-only ones) or slo-aware (every --clock-window seconds the lowest clock whose predicted iteration time stays within --clock-slo-margin of the TPOT target, raised at once when an iteration would miss it)",
        "default, or fixed when --sm-clock is given", Clocks.ClockGovernorNames.All);
    public static readonly Setting<int> PrefillClock = Int("prefill-clock", "Per-phase governor: SM clock of iterations with prefill work, MHz", "the card's maximum", min: 1);
    public static readonly Setting<int> DecodeClock = Int("decode-clock", "Per-phase governor: SM clock of decode-only iterations, MHz", "1200", min: 1);
    public static readonly Setting<int> MinClock = Int("min-clock", "SLO-aware governor: the lowest SM clock it picks, MHz", "800", min: 1);
    public static readonly Setting<double> ClockWindow = Double("clock-window", "SLO-aware governor: seconds between its clock choices", "1", min: 0, minExclusive: true);
    public static readonly Setting<double> ClockSloMargin = Double("clock-slo-margin", "SLO-aware governor: fraction of the TPOT target one iteration may take", "0.8", min: 0, minExclusive: true, max: 1);

    /// <summary>Every setting, in the order `--help` lists them.</summary>
    public static readonly IReadOnlyList<Setting> All =
    [
        Name, CostModel, Profile, Gpu, Model, Tp, Instances, Autoscaler, MinInstances, ScaleSignal, ScaleTarget, ScaleInterval,
        ScaleUpWindow, ScaleDownWindow, Schedule, ScaleHeadroom, WeightsFrom, Router, OutputLengthOracle, Mode, Batching, ChunkedPrefill,
        MaxNumBatchedTokens, MaxNumSeqs, MaxModelLen, BlockSize, GpuMemoryUtilization, KvBlocks, SchedulerReserveFullIsl, PrefixCaching, HashBlockTokens, IterationOverheadMs,
        TtftSlo, TpotSlo, Node, Pue, Carbon, Price, Seed, PowerBin,
        SmClock, ClockGovernor, PrefillClock, DecodeClock, MinClock, ClockWindow, ClockSloMargin,
    ];

    private static readonly Dictionary<string, Setting> s_byYamlKey = All.ToDictionary(s => s.YamlKey, StringComparer.Ordinal);

    /// <summary>The setting a scenario-file key names, or null.</summary>
    public static Setting? ByYamlKey(string key) => s_byYamlKey.GetValueOrDefault(key);

    /// <summary>vLLM's defaults for max_num_batched_tokens and max_num_seqs on this GPU (vllm/engine/arg_utils.py: larger values for GPUs with at least 70 GiB that are not A100s; the LLM class, i.e. offline, gets the larger budget).</summary>
    public static (int BatchedTokens, int Seqs) VllmDefaults(Joules.Profiles.GpuSpec gpu, bool offline)
    {
        var large = gpu.MemoryGiB >= 70 && !gpu.Name.Contains("a100", StringComparison.OrdinalIgnoreCase);
        return large ? (offline ? 16384 : 8192, 1024) : (offline ? 8192 : 2048, 256);
    }
}
