using System.Text.Json.Serialization;

namespace Joules.Profiles;

/// <summary>Datasheet figures of a GPU type: the ceilings the roofline baseline uses and the memory the KV cache is sized from.</summary>
public sealed record GpuSpec
{
    [JsonPropertyName("name")] public required string Name { get; init; }
    [JsonPropertyName("display_name")] public string? DisplayName { get; init; }
    /// <summary>Names NVML reports for this GPU, used to match a measured profile to its datasheet.</summary>
    [JsonPropertyName("nvml_names")] public string[] NvmlNames { get; init; } = [];
    [JsonPropertyName("memory_gib")] public required double MemoryGiB { get; init; }
    [JsonPropertyName("memory_bandwidth_gbs")] public required double MemoryBandwidthGBs { get; init; }
    [JsonPropertyName("bf16_dense_tflops")] public required double Bf16DenseTflops { get; init; }
    [JsonPropertyName("tdp_watts")] public required double TdpWatts { get; init; }
    [JsonPropertyName("idle_watts")] public required double IdleWatts { get; init; }
    /// <summary>Per-direction GPU-to-GPU line rate (NVLink), GB/s.</summary>
    [JsonPropertyName("interconnect_gbs")] public double InterconnectGBs { get; init; } = 450;
    /// <summary>All-reduce bus bandwidth NCCL reaches on this interconnect (nccl-tests "busbw", large messages), GB/s; null: the line rate.</summary>
    [JsonPropertyName("allreduce_bus_gbs")] public double? AllReduceBusGBs { get; init; }
    /// <summary>Fixed cost of one all-reduce call (launch and synchronisation), microseconds; null: <see cref="Interconnect.AlphaBetaAllReduce.DefaultBaseLatencySeconds"/>.</summary>
    [JsonPropertyName("allreduce_base_latency_us")] public double? AllReduceBaseLatencyUs { get; init; }
    /// <summary>Latency of one step of the algorithm (one GPU-to-GPU hop), microseconds; null: <see cref="Interconnect.AlphaBetaAllReduce.DefaultHopLatencySeconds"/>.</summary>
    [JsonPropertyName("allreduce_hop_latency_us")] public double? AllReduceHopLatencyUs { get; init; }
    /// <summary>Where the interconnect figures come from.</summary>
    [JsonPropertyName("interconnect_source")] public string? InterconnectSource { get; init; }
    /// <summary>Highest SM (graphics) clock the card runs at, MHz (its maximum boost); 0 when the card file does not say. The frequency model scales from it.</summary>
    [JsonPropertyName("max_sm_clock_mhz")] public double MaxSmClockMHz { get; init; }
    [JsonPropertyName("source")] public string? Source { get; init; }

    public long MemoryBytes => (long)(MemoryGiB * 1024 * 1024 * 1024);
}
