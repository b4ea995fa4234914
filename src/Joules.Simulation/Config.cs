using Joules.Profiles;

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

/// <summary>Limits of the serving engine on one instance (vLLM names where they exist).</summary>
public sealed record EngineConfig
{
    public BatchingKind Batching { get; init; } = BatchingKind.Continuous;
    /// <summary>Token budget of one iteration (vLLM max_num_batched_tokens).</summary>
    public int MaxNumBatchedTokens { get; init; } = 8192;
    /// <summary>Most sequences in one iteration (vLLM max_num_seqs).</summary>
    public int MaxNumSeqs { get; init; } = 256;
    /// <summary>Split long prompts over iterations to fit the token budget.</summary>
    public bool ChunkedPrefill { get; init; } = true;
    /// <summary>Tokens per KV-cache block.</summary>
    public int BlockSize { get; init; } = 16;
    /// <summary>Fraction of GPU memory the engine may use (vLLM gpu_memory_utilization).</summary>
    public double GpuMemoryUtilization { get; init; } = 0.9;
    /// <summary>Bytes per GPU kept back for activations and the CUDA graph pool.</summary>
    public long ActivationReserveBytes { get; init; } = 2L << 30;
    /// <summary>Overrides the KV capacity (blocks) computed from memory; for tests and what-ifs.</summary>
    public int? KvBlocksOverride { get; init; }

    public void Validate()
    {
        if (MaxNumBatchedTokens < 1) throw new ArgumentException($"max_num_batched_tokens must be positive, got {MaxNumBatchedTokens}");
        if (MaxNumSeqs < 1) throw new ArgumentException($"max_num_seqs must be positive, got {MaxNumSeqs}");
        if (MaxNumSeqs > MaxNumBatchedTokens)
            throw new ArgumentException($"max_num_seqs ({MaxNumSeqs}) must not exceed max_num_batched_tokens ({MaxNumBatchedTokens}) so every running sequence can decode each iteration");
        if (BlockSize < 1) throw new ArgumentException($"block size must be positive, got {BlockSize}");
        if (GpuMemoryUtilization is <= 0 or > 1) throw new ArgumentException($"gpu memory utilisation must lie in (0, 1], got {GpuMemoryUtilization}");
        if (KvBlocksOverride is < 1) throw new ArgumentException($"KV blocks override must be positive, got {KvBlocksOverride}");
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
    public int Instances { get; init; } = 8;
    public EngineConfig Engine { get; init; } = new();
    public string Router { get; init; } = RouterNames.LeastOutstanding;
    public ArrivalMode Mode { get; init; } = ArrivalMode.Online;
    public SloConfig Slo { get; init; } = new();
    public FacilityConfig Facility { get; init; } = new();
    public int Seed { get; init; } = 42;
    /// <summary>Width of the power-timeline bins in seconds.</summary>
    public double PowerBinSeconds { get; init; } = 1.0;

    public void Validate()
    {
        if (Instances < 1) throw new ArgumentException($"instances must be at least 1, got {Instances}");
        Engine.Validate();
        if (Array.IndexOf(RouterNames.All, Router) < 0)
            throw new ArgumentException($"unknown router '{Router}': expected one of {string.Join(", ", RouterNames.All)}");
        if (Slo.TtftSeconds <= 0 || Slo.TpotSeconds <= 0) throw new ArgumentException("SLO targets must be positive");
        if (Facility.Pue < 1) throw new ArgumentException($"PUE must be at least 1, got {Facility.Pue}");
        if (Facility.CarbonGramsPerKwh < 0 || Facility.PricePerKwh < 0) throw new ArgumentException("carbon intensity and price must not be negative");
        if (!(PowerBinSeconds > 0)) throw new ArgumentException($"power bin must be positive, got {PowerBinSeconds}");
    }
}
