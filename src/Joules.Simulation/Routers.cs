using Joules.Profiles;
using Joules.Simulation.Engine;

namespace Joules.Simulation;

/// <summary>Picks the instance a newly arrived request goes to, looking at the instances' state at the arrival instant.</summary>
public interface IRouter
{
    string Name { get; }
    /// <summary>Whether the decision depends on instance state; routers that do not let instances be driven lazily (much faster on large fleets).</summary>
    bool ReadsInstanceState => true;
    int Route(long requestId, int inputTokens, int outputTokens, Instance[] instances);
}

/// <summary>Instances in turn, whatever their load.</summary>
public sealed class RoundRobinRouter : IRouter
{
    private int _next;
    public string Name => RouterNames.RoundRobin;
    public bool ReadsInstanceState => false;
    public int Route(long requestId, int inputTokens, int outputTokens, Instance[] instances)
    {
        var i = _next;
        _next = i + 1 == instances.Length ? 0 : i + 1;
        return i;
    }
}

/// <summary>A uniformly random instance from a seeded generator.</summary>
public sealed class RandomRouter(int seed) : IRouter
{
    private readonly Random _rng = new(seed);
    public string Name => RouterNames.Random;
    public bool ReadsInstanceState => false;
    public int Route(long requestId, int inputTokens, int outputTokens, Instance[] instances) => _rng.Next(instances.Length);
}

/// <summary>The instance with the fewest outstanding tokens (prompt tokens not yet prefilled plus output tokens not yet generated); ties go to the lowest index.</summary>
public sealed class LeastOutstandingRouter : IRouter
{
    public string Name => RouterNames.LeastOutstanding;
    public int Route(long requestId, int inputTokens, int outputTokens, Instance[] instances) => Pick(instances);

    internal static int Pick(Instance[] instances)
    {
        var best = 0;
        var bestLoad = long.MaxValue;
        for (var i = 0; i < instances.Length; i++)
        {
            var load = instances[i].OutstandingTokens;
            if (load < bestLoad) { best = i; bestLoad = load; if (load == 0) break; }
        }
        return best;
    }
}

/// <summary>
/// Packs load onto as few instances as the SLOs allow, so the others sit idle: instances are tried in a
/// fixed order and the first one with headroom takes the request. Headroom comes from the cost model:
/// at most as many resident requests as keep a decode step within 80 % of the TPOT target, and at most as
/// many queued prompt tokens as prefill in half the TTFT target. When none has headroom, the least loaded takes it.
/// </summary>
public sealed class ConsolidatingRouter : IRouter
{
    public ConsolidatingRouter(ICostModel cost, EngineConfig engine, SloConfig slo, int typicalContext = 2048)
    {
        var maxSeqs = 1;
        for (var b = 1; b <= engine.MaxNumSeqs; b++)
        {
            if (cost.Estimate(IterationShape.Decode(b, typicalContext)).Seconds > 0.8 * slo.TpotSeconds) break;
            maxSeqs = b;
        }
        MaxResident = maxSeqs;
        var chunk = Math.Min(engine.MaxNumBatchedTokens, 2048);
        var perToken = cost.Estimate(IterationShape.Prefill(1, chunk)).Seconds / chunk;
        MaxQueuedPromptTokens = Math.Max(chunk, (long)(0.5 * slo.TtftSeconds / perToken));
    }

    public string Name => RouterNames.Consolidate;
    public int MaxResident { get; }
    public long MaxQueuedPromptTokens { get; }

    public int Route(long requestId, int inputTokens, int outputTokens, Instance[] instances)
    {
        for (var i = 0; i < instances.Length; i++)
        {
            var inst = instances[i];
            if (inst.Resident < MaxResident && inst.OutstandingPromptTokens + inputTokens <= MaxQueuedPromptTokens) return i;
        }
        return LeastOutstandingRouter.Pick(instances);
    }
}

/// <summary>Builds routers by name.</summary>
public static class Routers
{
    public static IRouter Create(string name, ICostModel cost, ClusterConfig cfg) => name switch
    {
        RouterNames.RoundRobin => new RoundRobinRouter(),
        RouterNames.LeastOutstanding => new LeastOutstandingRouter(),
        RouterNames.Consolidate => new ConsolidatingRouter(cost, cfg.Engine, cfg.Slo),
        RouterNames.Random => new RandomRouter(cfg.Seed),
        _ => throw new ArgumentException($"unknown router '{name}': expected one of {string.Join(", ", RouterNames.All)}"),
    };
}
