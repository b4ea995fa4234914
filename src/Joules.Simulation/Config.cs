using Joules.Profiles;
using Joules.Scheduling;

namespace Joules.Simulation;

/// <summary>How an instance batches requests.</summary>
public enum BatchingKind
{
    /// <summary>Iteration-level batching as in vLLM: requests join and leave between iterations.</summary>
    Continuous,
    /// <summary>A batch forms, runs until its longest member is done, then the next forms.</summary>
    Static,
}

/// <summary>Online: requests arrive at their trace times. Offline: the whole trace is a backlog at time zero.</summary>
public enum ArrivalMode { Online, Offline }

/// <summary>What one instance runs: the GPU type, the model, its tensor-parallel degree; resolved once per scenario.</summary>
/// <param name="Gpu">Datasheet of each GPU.</param>
/// <param name="Model">The served model.</param>
/// <param name="TensorParallel">GPUs per instance.</param>
/// <param name="Node">The server the GPUs sit in, for host power (CPUs, memory, NICs, fans, switches, power-supply loss); null counts the GPUs alone.</param>
public sealed record Deployment(GpuSpec Gpu, ModelCard Model, int TensorParallel = 1, NodeSpec? Node = null)
{
    /// <summary>The deployment a cost model prices (for library callers that build a cost model first).</summary>
    public static Deployment Of(ICostModel cost) => new(cost.Gpu, cost.Model, cost.TensorParallel);

    public ModelShard Shard => Model.Shard(TensorParallel);

    /// <summary>e.g. "h200 / llama-3.1-8b" or "h200 / llama-3.1-70b / tp8".</summary>
    public override string ToString() => $"{Gpu.Name} / {Model.Name}" + (TensorParallel > 1 ? $" / tp{TensorParallel}" : "");
}

/// <summary>Limits of the serving engine on one instance (vLLM names where they exist) and how its KV cache is sized.</summary>
public sealed record EngineConfig
{
    public BatchingKind Batching { get; init; } = BatchingKind.Continuous;
    /// <summary>Token budget of one iteration (vLLM max_num_batched_tokens).</summary>
    public int MaxNumBatchedTokens { get; init; } = 8192;
    /// <summary>Most sequences running at once (vLLM max_num_seqs).</summary>
    public int MaxNumSeqs { get; init; } = 1024;
    /// <summary>Split long prompts over iterations to fit the token budget.</summary>
    public bool ChunkedPrefill { get; init; } = true;
    /// <summary>Tokens per KV-cache block.</summary>
    public int BlockSize { get; init; } = 16;
    /// <summary>Longest prompt plus output a request may have; null: the model card's maximum context.</summary>
    public int? MaxModelLen { get; init; }
    /// <summary>Admission needs room for the whole sequence so far, not only its first chunk (vLLM scheduler_reserve_full_isl, on by default).</summary>
    public bool ReserveFullIsl { get; init; } = true;
    /// <summary>Prefix caching (vLLM V1's default).</summary>
    public bool PrefixCaching { get; init; } = true;
    /// <summary>Tokens each trace block hash covers (Mooncake: 512).</summary>
    public int HashBlockTokens { get; init; } = 512;
    /// <summary>Fraction of GPU memory the engine may use (vLLM gpu_memory_utilization).</summary>
    public double GpuMemoryUtilization { get; init; } = 0.9;
    /// <summary>Bytes per GPU kept back for activations and the CUDA graph pool.</summary>
    public long ActivationReserveBytes { get; init; } = 2L << 30;
    /// <summary>Overrides the KV capacity (blocks) computed from memory; for tests and what-ifs.</summary>
    public int? KvBlocksOverride { get; init; }

    /// <summary>The scheduler's limits for a model whose card allows <paramref name="modelMaxContext"/> tokens.</summary>
    public SchedulerConfig Scheduler(int modelMaxContext) => new()
    {
        MaxNumBatchedTokens = MaxNumBatchedTokens,
        MaxNumSeqs = MaxNumSeqs,
        ChunkedPrefill = ChunkedPrefill,
        ReserveFullIsl = ReserveFullIsl,
        BlockSize = BlockSize,
        MaxModelLen = MaxModelLen ?? modelMaxContext,
        PrefixCaching = PrefixCaching && Batching == BatchingKind.Continuous,
        HashBlockTokens = HashBlockTokens,
        Static = Batching == BatchingKind.Static,
    };

    public void Validate(int modelMaxContext = 131072)
    {
        Scheduler(modelMaxContext).Validate();
        if (GpuMemoryUtilization is <= 0 or > 1) throw new ArgumentException($"gpu-memory-utilization must lie in (0, 1], got {GpuMemoryUtilization}");
        if (KvBlocksOverride is < 1) throw new ArgumentException($"kv-blocks must be positive, got {KvBlocksOverride}");
        if (MaxModelLen is { } m && m > modelMaxContext)
            throw new ArgumentException($"max-model-len {m} exceeds the model's maximum context of {modelMaxContext} tokens");
    }

    /// <summary>KV-cache blocks available on one instance: per GPU, memory x utilisation minus the weight shard and the activation reserve, over the per-GPU bytes of a block.</summary>
    public int KvBlocks(GpuSpec gpu, ModelShard shard)
    {
        if (KvBlocksOverride is { } o) return o;
        var free = gpu.MemoryBytes * GpuMemoryUtilization - shard.WeightBytesPerGpu - ActivationReserveBytes;
        var blockBytes = (double)BlockSize * shard.KvBytesPerTokenPerGpu;
        var blocks = Math.Floor(free / blockBytes);
        if (blocks < 1)
            throw new ArgumentException(
                $"model '{shard.Model.Name}' at tp={shard.Tp} does not fit on {gpu.Name}: {shard.WeightBytesPerGpu / 1e9:F1} GB of weights per GPU leave no room for a KV cache in {gpu.MemoryGiB * GpuMemoryUtilization:F1} GiB");
        return (int)Math.Min(blocks, int.MaxValue);
    }

    /// <summary>"continuous", "continuous-nochunk" or "static".</summary>
    public string BatchingName => Batching == BatchingKind.Static ? "static" : ChunkedPrefill ? "continuous" : "continuous-nochunk";
}

/// <summary>Latency targets a request must meet to count as served well.</summary>
public sealed record SloConfig(double TtftSeconds = 2.0, double TpotSeconds = 0.1);

/// <summary>Turns energy at the GPUs into facility energy, carbon and money.</summary>
public sealed record FacilityConfig(double Pue = 1.0, double CarbonGramsPerKwh = 0, double PricePerKwh = 0);

/// <summary>Names of the shipped routing policies.</summary>
public static class RouterNames
{
    public const string RoundRobin = "round-robin";
    public const string LeastOutstanding = "least-outstanding";
    public const string Consolidate = "consolidate";
    public const string Random = "random";
    public static readonly string[] All = [RoundRobin, LeastOutstanding, Consolidate, Random];
}

/// <summary>One complete simulated deployment: instances, engine, router, cost model, SLOs and facility.</summary>
public sealed record ClusterConfig
{
    public string Name { get; init; } = "default";
    /// <summary>What every instance runs; null takes it from the cost model (library convenience; scenarios always set it).</summary>
    public Deployment? Deployment { get; init; }
    public int Instances { get; init; } = 8;
    public EngineConfig Engine { get; init; } = new();
    /// <summary>How many of the <see cref="Instances"/> serve over time (fixed: all of them).</summary>
    public Autoscaling.AutoscalerConfig Autoscaler { get; init; } = new();
    public string Router { get; init; } = RouterNames.LeastOutstanding;
    /// <summary>Let the least-outstanding router see every request's true output length (research only: no real router knows it).</summary>
    public bool OutputLengthOracle { get; init; }
    public ArrivalMode Mode { get; init; } = ArrivalMode.Online;
    public SloConfig Slo { get; init; } = new();
    public FacilityConfig Facility { get; init; } = new();
    /// <summary>Whether the user gave a carbon intensity (reports say "not set" rather than 0 g otherwise).</summary>
    public bool CarbonSet { get; init; }
    /// <summary>Whether the user gave an electricity price.</summary>
    public bool PriceSet { get; init; }
    /// <summary>How reports name the cost model, when it differs from the model's own name (e.g. a roofline fallback with its reason).</summary>
    public string? CostModelLabel { get; init; }
    public int Seed { get; init; } = 42;
    /// <summary>Width of the power-timeline bins in seconds.</summary>
    public double PowerBinSeconds { get; init; } = 1.0;
    /// <summary>How SM clocks are chosen (default: the card's own management, as profiled).</summary>
    public Clocks.ClockSettings Clock { get; init; } = Clocks.ClockSettings.Default;

    public void Validate()
    {
        if (Instances < 1) throw new ArgumentException($"instances must be at least 1, got {Instances}");
        Engine.Validate(Deployment?.Model.MaxContext ?? 131072);
        Autoscaler.Validate(Instances);
        if (Array.IndexOf(RouterNames.All, Router) < 0)
            throw new ArgumentException($"unknown router '{Router}': expected one of {string.Join(", ", RouterNames.All)}");
        if (!(Slo.TtftSeconds > 0)) throw new ArgumentException($"ttft-slo must be a positive number of seconds, got {Slo.TtftSeconds}");
        if (!(Slo.TpotSeconds > 0)) throw new ArgumentException($"tpot-slo must be a positive number of seconds, got {Slo.TpotSeconds}");
        if (!(Facility.Pue >= 1)) throw new ArgumentException($"pue must be at least 1, got {Facility.Pue}");
        if (!(Facility.CarbonGramsPerKwh >= 0)) throw new ArgumentException($"carbon must not be negative, got {Facility.CarbonGramsPerKwh}");
        if (!(Facility.PricePerKwh >= 0)) throw new ArgumentException($"price must not be negative, got {Facility.PricePerKwh}");
        if (!(PowerBinSeconds > 0)) throw new ArgumentException($"power-bin must be a positive number of seconds, got {PowerBinSeconds}");
        Clock.Validate();
    }
}
