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
public sealed record ServeInfo(string ModelName, string Model, string Engine, string Gpu, string Device, string DeviceUuid,
    SchedulerConfig Scheduler, int KvBlocks, string? CostModel);
