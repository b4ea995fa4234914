using System.Text.Json.Serialization;

namespace Joules.Profiles;

/// <summary>A server that hosts GPUs: how many, and the power of everything else in it (CPUs, memory, NICs, fans, switches, power-supply losses), for host energy per GPU.</summary>
/// <remarks>
/// Component watts are DC power at two operating points: idle (GPUs idle, the serving stack waiting) and
/// busy (every GPU serving). Between them power is taken as linear in the GPUs' busy fraction. The power
/// supplies' conversion loss is charged on the host's DC power and, when given, on the GPUs' own draw:
/// the GPU figures (NVML board power) are measured after the supplies, so their loss is the host's too.
/// </remarks>
public sealed record NodeSpec
{
    [JsonPropertyName("name")] public required string Name { get; init; }
    [JsonPropertyName("display_name")] public string? DisplayName { get; init; }
    /// <summary>Catalog name of the GPU this server carries.</summary>
    [JsonPropertyName("gpu")] public required string Gpu { get; init; }
    [JsonPropertyName("gpus_per_node")] public required int GpusPerNode { get; init; }
    /// <summary>AC-to-DC efficiency of the power supplies at serving load (0 to 1].</summary>
    [JsonPropertyName("psu_efficiency")] public required double PsuEfficiency { get; init; }
    /// <summary>The vendor's maximum input power for the whole server, for reference (not used in the energy figures).</summary>
    [JsonPropertyName("max_input_watts")] public double? MaxInputWatts { get; init; }
    [JsonPropertyName("components")] public required NodeComponent[] Components { get; init; }
    [JsonPropertyName("source")] public string? Source { get; init; }
    /// <summary>How fast a cold instance gets its weights and how long the engine takes to start, for autoscaling.</summary>
    [JsonPropertyName("cold_start")] public ColdStartSpec ColdStart { get; init; } = new();

    /// <summary>DC power of everything but the GPUs while idle, watts (whole server).</summary>
    public double HostIdleWatts => Components.Sum(c => c.Count * c.IdleWatts);

    /// <summary>DC power of everything but the GPUs while every GPU is busy, watts (whole server).</summary>
    public double HostBusyWatts => Components.Sum(c => c.Count * c.BusyWatts);

    /// <summary>Fraction of a DC watt lost in the power supplies: 1 / efficiency - 1.</summary>
    public double PsuLossFraction => 1.0 / PsuEfficiency - 1.0;

    /// <summary>
    /// Wall power of the server's non-GPU parts per GPU when its GPUs are busy for <paramref name="busyFraction"/>
    /// of the time (0 idle .. 1 all busy), the power supplies' loss included; with <paramref name="gpuWattsPerGpu"/>
    /// (a GPU's mean board power over the same time) the loss on the GPU's own draw is included too.
    /// </summary>
    public double HostWattsPerGpu(double busyFraction, double gpuWattsPerGpu = 0)
    {
        if (!(busyFraction >= 0 && busyFraction <= 1))
            throw new ArgumentOutOfRangeException(nameof(busyFraction), $"node '{Name}': busy fraction must be between 0 and 1, got {busyFraction}");
        if (!(gpuWattsPerGpu >= 0))
            throw new ArgumentOutOfRangeException(nameof(gpuWattsPerGpu), $"node '{Name}': GPU power must be zero or positive, got {gpuWattsPerGpu} W");
        var hostDc = (HostIdleWatts + (HostBusyWatts - HostIdleWatts) * busyFraction) / GpusPerNode;
        return hostDc / PsuEfficiency + gpuWattsPerGpu * PsuLossFraction;
    }

    /// <summary>Checks the card; throws naming the card and the offending field.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Gpu)) throw new InvalidDataException($"node '{Name}': gpu must name a GPU");
        if (GpusPerNode < 1) throw new InvalidDataException($"node '{Name}': gpus_per_node must be at least 1, got {GpusPerNode}");
        if (!(PsuEfficiency > 0 && PsuEfficiency <= 1)) throw new InvalidDataException($"node '{Name}': psu_efficiency must be in (0, 1], got {PsuEfficiency}");
        if (Components is null || Components.Length == 0) throw new InvalidDataException($"node '{Name}': components must list at least one part");
        foreach (var c in Components)
        {
            if (c.Count < 1) throw new InvalidDataException($"node '{Name}', component '{c.Name}': count must be at least 1, got {c.Count}");
            if (!(c.IdleWatts >= 0)) throw new InvalidDataException($"node '{Name}', component '{c.Name}': idle_watts must be zero or positive, got {c.IdleWatts}");
            if (!(c.BusyWatts >= c.IdleWatts)) throw new InvalidDataException($"node '{Name}', component '{c.Name}': busy_watts ({c.BusyWatts}) must be at least idle_watts ({c.IdleWatts})");
        }
    }
}

/// <summary>One kind of part in a <see cref="NodeSpec"/>: how many, and each one's DC power idle and busy.</summary>
public sealed record NodeComponent
{
    [JsonPropertyName("name")] public required string Name { get; init; }
    [JsonPropertyName("count")] public int Count { get; init; } = 1;
    /// <summary>Watts of one such part while the server's GPUs are idle.</summary>
    [JsonPropertyName("idle_watts")] public required double IdleWatts { get; init; }
    /// <summary>Watts of one such part while every GPU is serving.</summary>
    [JsonPropertyName("busy_watts")] public required double BusyWatts { get; init; }
    [JsonPropertyName("source")] public string? Source { get; init; }
}

/// <summary>Where a waking instance reads its weights from.</summary>
public enum WeightSource { HostMemory, Nvme, Network }

/// <summary>What a cold start takes on a server: weight-load bandwidth per GPU from each source, and the engine's start (CUDA context, graph capture, warm-up) after the weights are in.</summary>
public sealed record ColdStartSpec
{
    /// <summary>GB/s per GPU from a copy already in host memory (page cache or a pinned staging copy).</summary>
    [JsonPropertyName("host_memory_gbs")] public double HostMemoryGBs { get; init; } = 20;
    /// <summary>GB/s per GPU from the server's local NVMe drives.</summary>
    [JsonPropertyName("nvme_gbs")] public double NvmeGBs { get; init; } = 2;
    /// <summary>GB/s per GPU from network storage.</summary>
    [JsonPropertyName("network_gbs")] public double NetworkGBs { get; init; } = 1.25;
    /// <summary>Seconds from weights in GPU memory to serving (CUDA context, CUDA-graph capture, KV profiling, warm-up).</summary>
    [JsonPropertyName("engine_start_s")] public double EngineStartSeconds { get; init; } = 20;
    [JsonPropertyName("source")] public string? Source { get; init; }

    public double Bandwidth(WeightSource from) => from switch
    {
        WeightSource.HostMemory => HostMemoryGBs,
        WeightSource.Nvme => NvmeGBs,
        _ => NetworkGBs,
    };

    /// <summary>Seconds from a cold GPU to serving: its weight shard over the bandwidth, plus the engine start.</summary>
    public double Seconds(long weightBytesPerGpu, WeightSource from) => weightBytesPerGpu / (Bandwidth(from) * 1e9) + EngineStartSeconds;
}
