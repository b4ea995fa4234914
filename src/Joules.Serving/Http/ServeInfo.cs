using Joules.Scheduling;

namespace Joules.Serving.Http;

/// <summary>What the server tells clients about itself (/v1/models, /metrics info metrics): the model, engine and limits.</summary>
/// <param name="ModelName">The served model name clients must use.</param>
/// <param name="Model">The catalogue model it runs.</param>
/// <param name="Engine">"gpu" or "sim".</param>
/// <param name="Gpu">The GPU type (catalogue name) it runs on or simulates.</param>
/// <param name="Device">The device name.</param>
/// <param name="DeviceUuid">The GPU's UUID (empty for the sim engine).</param>
/// <param name="Scheduler">The scheduler's limits.</param>
/// <param name="KvBlocks">KV blocks of the cache.</param>
/// <param name="CostModel">The cost model pricing (sim) or predicting (gpu) iterations, if any.</param>
/// <param name="Kernels">The engine's kernels under a profile's engine.* keys (empty for the sim engine).</param>
public sealed record ServeInfo(string ModelName, string Model, string Engine, string Gpu, string Device, string DeviceUuid,
    SchedulerConfig Scheduler, int KvBlocks, string? CostModel, IReadOnlyDictionary<string, string>? Kernels = null)
{
    /// <summary>Prefix of the engine_config_info labels that carry <see cref="Kernels"/> (engine.decode_attention is label kernel_decode_attention).</summary>
    public const string KernelLabelPrefix = Joules.Profiles.Measured.ProfileMetadata.KernelLabelPrefix;

    /// <summary><see cref="Kernels"/> as labels: the profile key's "engine." replaced by <see cref="KernelLabelPrefix"/> (a Prometheus label name has no dots).</summary>
    public IEnumerable<(string Key, string Value)> KernelLabels() =>
        (Kernels ?? new Dictionary<string, string>()).OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => (KernelLabelPrefix + (kv.Key.StartsWith(EngineKey, StringComparison.Ordinal) ? kv.Key[EngineKey.Length..] : kv.Key), kv.Value));

    private const string EngineKey = Joules.Profiles.Measured.ProfileMetadata.EngineKeyPrefix;
}
