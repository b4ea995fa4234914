using Joules.Profiles;
using Joules.Simulation.Engine;

namespace Joules.Simulation;

/// <summary>What a router looks at, which decides how far instances must be brought up to date before it routes.</summary>
public enum RouterView
{
    /// <summary>Nothing (round-robin, random): only the instance handed the request is brought up to date.</summary>
    None,
    /// <summary>What a real router observes from outside: requests in flight and prompt tokens still without a first token.</summary>
    Observable,
    /// <summary>Engine internals (an oracle's outstanding output tokens): every instance is brought up to every arrival.</summary>
    Internal,
}

/// <summary>Picks the instance a newly arrived request goes to, looking at the instances' state at the arrival instant.</summary>
public interface IRouter
{
    string Name { get; }
    RouterView Reads { get; }
    /// <summary>The instance for a request of <paramref name="inputTokens"/> prompt tokens; <paramref name="outputTokens"/> may only be read by oracle routers.</summary>
    int Route(long requestId, int inputTokens, int outputTokens, Instance[] instances);

    /// <summary>Told after instance <paramref name="index"/>'s state may have changed (it advanced or took a request), for routers that index instances.</summary>
    void Observe(int index, Instance instance) { }
}

/// <summary>Instances in turn, whatever their load.</summary>
public sealed class RoundRobinRouter : IRouter
{
    private int _next;
    public string Name => RouterNames.RoundRobin;
    public RouterView Reads => RouterView.None;
    public int Route(long requestId, int inputTokens, int outputTokens, Instance[] instances)
    {
        var i = _next;
        for (var k = 0; k < instances.Length; k++)
        {
            i = _next;
            _next = i + 1 == instances.Length ? 0 : i + 1;
            if (instances[i].Routable) return i;
        }
        return i;
    }
}

/// <summary>A uniformly random instance from a seeded generator.</summary>
public sealed class RandomRouter(int seed) : IRouter
{
    private readonly Random _rng = new(seed);
    public string Name => RouterNames.Random;
    public RouterView Reads => RouterView.None;
    public int Route(long requestId, int inputTokens, int outputTokens, Instance[] instances)
    {
        var i = _rng.Next(instances.Length);
        // With an autoscaler some instances are off: the next serving one after the draw.
        for (var k = 0; k < instances.Length && !instances[i].Routable; k++) i = i + 1 == instances.Length ? 0 : i + 1;
        return i;
    }
}

/// <summary>
/// Least outstanding requests, as a real load balancer does it (Envoy's LEAST_REQUEST, nginx least_conn, the
/// least-request policies of LLM gateways): the instance with the fewest requests in flight, ties broken by the
/// fewest prompt tokens still waiting for a first token, then the lowest index. It knows nothing a real router could
/// not: prompts and which requests have started or finished streaming, never output lengths.
/// </summary>
public sealed class LeastOutstandingRouter : IRouter
{
    private IndexedMinHeap? _load;

    public string Name => RouterNames.LeastOutstanding;
    public RouterView Reads => RouterView.Observable;

    // The instances sit in a heap by (requests in flight, prompt tokens waiting): the pick is the top, an update O(log n).
    public int Route(long requestId, int inputTokens, int outputTokens, Instance[] instances)
    {
        if (_load == null || _load.Count != instances.Length)
        {
            _load = new IndexedMinHeap(instances.Length);
            for (var i = 0; i < instances.Length; i++) Observe(i, instances[i]);
        }
        return _load.Min;
    }

    public void Observe(int index, Instance instance) =>
        _load?.Update(index, !instance.Routable ? long.MaxValue : ((long)instance.Resident << 40) | Math.Min(instance.QueuedPromptTokens, (1L << 40) - 1));

    internal static int Pick(Instance[] instances)
    {
        var best = 0;
        var bestResident = int.MaxValue;
        var bestPrompt = long.MaxValue;
        for (var i = 0; i < instances.Length; i++)
        {
            var inst = instances[i];
            if (!inst.Routable) continue;
            var r = inst.Resident;
            if (r > bestResident) continue;
            var p = inst.QueuedPromptTokens;
            if (r == bestResident && p >= bestPrompt) continue;
            best = i;
            bestResident = r;
            bestPrompt = p;
            if (r == 0 && p == 0) break;
        }
        return best;
    }
}

/// <summary>
/// Research only: least outstanding tokens with an oracle on output lengths (prompt tokens not yet prefilled plus
/// output tokens not yet generated), the behaviour of earlier Joules versions. No real router knows how many tokens
/// a request will generate.
/// </summary>
public sealed class OracleLeastOutstandingRouter : IRouter
{
    public string Name => RouterNames.LeastOutstanding + " (output-length oracle)";
    public RouterView Reads => RouterView.Internal;
    public int Route(long requestId, int inputTokens, int outputTokens, Instance[] instances)
    {
        var best = 0;
        var bestLoad = long.MaxValue;
        for (var i = 0; i < instances.Length; i++)
        {
            if (!instances[i].Routable) continue;
            var load = instances[i].OutstandingTokens;
            if (load < bestLoad) { best = i; bestLoad = load; if (load == 0) break; }
        }
        return best;
    }
}

/// <summary>
/// Packs load onto as few instances as the SLOs allow, so the others sit idle: instances are tried in a
/// fixed order and the first one with headroom takes the request. Headroom comes from the cost model:
/// at most as many requests in flight as keep a decode step within 80 % of the TPOT target, and at most as
/// many prompt tokens waiting for a first token as prefill in half the TTFT target. When none has headroom,
/// the least loaded takes it.
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
    public RouterView Reads => RouterView.Observable;
    public int MaxResident { get; }
    public long MaxQueuedPromptTokens { get; }

    public int Route(long requestId, int inputTokens, int outputTokens, Instance[] instances)
    {
        for (var i = 0; i < instances.Length; i++)
        {
            var inst = instances[i];
            if (inst.Routable && inst.Resident < MaxResident && inst.QueuedPromptTokens + inputTokens <= MaxQueuedPromptTokens) return i;
        }
        return LeastOutstandingRouter.Pick(instances);
    }
}

/// <summary>Builds routers by name.</summary>
public static class Routers
{
    public static IRouter Create(ClusterConfig cfg, ICostModel cost) => cfg.Router switch
    {
        RouterNames.RoundRobin => new RoundRobinRouter(),
        RouterNames.LeastOutstanding => cfg.OutputLengthOracle ? new OracleLeastOutstandingRouter() : new LeastOutstandingRouter(),
        RouterNames.Consolidate => new ConsolidatingRouter(cost, cfg.Engine, cfg.Slo),
        RouterNames.Random => new RandomRouter(cfg.Seed),
        var name => throw new ArgumentException($"unknown router '{name}': expected one of {string.Join(", ", RouterNames.All)}"),
    };
}
