using Joules.Traces;

namespace Joules.Replay;

/// <summary>Which part of a trace is sent and how: the window, the rate scaling, offline or online, a request limit.</summary>
public sealed record ReplayWindow
{
    /// <summary>Seconds after the trace's first arrival where the window starts.</summary>
    public double StartS { get; init; }
    /// <summary>Trace seconds the window spans (after <see cref="StartS"/>); null: to the end.</summary>
    public double? DurationS { get; init; }
    /// <summary>Most requests to send (the first ones of the window); null: all.</summary>
    public long? Limit { get; init; }
    /// <summary>Arrival rate multiplier: arrival offsets are divided by it (2 sends the window in half the time).</summary>
    public double RateScale { get; init; } = 1;
    /// <summary>Every request at time 0 (a backlog), as `simulate --mode offline` replays it.</summary>
    public bool Offline { get; init; }

    public void Validate()
    {
        if (!(StartS >= 0) || !double.IsFinite(StartS)) throw new ArgumentException($"--start must be a duration of at least 0, got {StartS}");
        if (DurationS is { } d && !(d > 0)) throw new ArgumentException($"--duration must be positive, got {d}");
        if (Limit is < 1) throw new ArgumentException($"--limit must be at least 1, got {Limit}");
        if (!(RateScale > 0) || !double.IsFinite(RateScale)) throw new ArgumentException($"--rate-scale must be a positive number, got {RateScale}");
    }
}

/// <summary>One request of a replay: when to send it (seconds after the start) and its token counts.</summary>
public readonly record struct PlannedRequest(long RequestId, double SendS, int InputTokens, int OutputTokens);

/// <summary>Turns a trace and a window into the send schedule of a replay (and, for `joules validate`, of its simulation).</summary>
public static class ReplayPlan
{
    /// <summary>
    /// The requests of <paramref name="trace"/> inside the window, in arrival order, with send times relative to the
    /// window's first request (scaled by the rate, or all 0 offline). Token counts below 1 are sent as 1, as the
    /// simulator runs them.
    /// </summary>
    public static List<PlannedRequest> Build(IEnumerable<TraceRequest> trace, ReplayWindow w)
    {
        w.Validate();
        var list = new List<PlannedRequest>();
        long? origin = null, first = null;
        foreach (var r in trace)
        {
            origin ??= r.ArrivalMicros;
            var offset = (r.ArrivalMicros - origin.Value) / 1e6;
            if (offset < w.StartS) continue;
            if (w.DurationS is { } d && offset >= w.StartS + d) break;
            first ??= r.ArrivalMicros;
            var send = w.Offline ? 0 : (r.ArrivalMicros - first.Value) / 1e6 / w.RateScale;
            list.Add(new PlannedRequest(r.RequestId, send, Math.Max(1, r.InputTokens), Math.Max(1, r.OutputTokens)));
            if (w.Limit is { } l && list.Count >= l) break;
        }
        if (list.Count == 0)
            throw new ArgumentException(w.StartS > 0 || w.DurationS is not null
                ? $"the window (from {w.StartS:0.###} s for {(w.DurationS is { } dd ? $"{dd:0.###} s" : "the rest of the trace")}) holds no request of the trace"
                : "the trace holds no request");
        return list;
    }

    /// <summary>The plan as trace requests (arrival = send time), what the simulator replays to re-run it.</summary>
    public static IEnumerable<TraceRequest> AsTrace(IEnumerable<PlannedRequest> plan) =>
        plan.Select(p => new TraceRequest(p.RequestId, (long)Math.Round(p.SendS * 1e6), p.InputTokens, p.OutputTokens));
}
