namespace Joules.Simulation;

/// <summary>Why a request was not served.</summary>
public enum RejectReason : byte
{
    /// <summary>Served.</summary>
    None,
    /// <summary>Prompt plus output exceed max-model-len (vLLM answers such a request with HTTP 400).</summary>
    MaxModelLen,
    /// <summary>Prompt plus output need more KV blocks than the whole cache holds: it could never run.</summary>
    KvCapacity,
    /// <summary>A measured run only (`joules replay`): the endpoint answered with an error or the connection failed.</summary>
    Failed,
}

/// <summary>Names of reject reasons as written to requests.parquet and summaries.</summary>
public static class RejectReasons
{
    public static string Name(RejectReason r) => r switch
    {
        RejectReason.None => "",
        RejectReason.MaxModelLen => "max-model-len",
        RejectReason.KvCapacity => "kv-capacity",
        RejectReason.Failed => "failed",
        _ => r.ToString(),
    };
}

/// <summary>What happened to one request: when it arrived, was first scheduled, produced its first and last token, and the energy it was charged.</summary>
public readonly record struct RequestResult(
    long RequestId,
    int Instance,
    double ArrivalS,
    double FirstScheduledS,
    double FirstTokenS,
    double DoneS,
    int InputTokens,
    int OutputTokens,
    int Preemptions,
    double EnergyJ,
    RejectReason Reason = RejectReason.None,
    int CachedPromptTokens = 0)
{
    /// <summary>Not served (see <see cref="Reason"/>).</summary>
    public bool Rejected => Reason != RejectReason.None;

    /// <summary>Time to first token.</summary>
    public double TtftS => FirstTokenS - ArrivalS;
    /// <summary>End-to-end latency.</summary>
    public double E2eS => DoneS - ArrivalS;
    /// <summary>Time from arrival until the request was first scheduled.</summary>
    public double QueueS => FirstScheduledS - ArrivalS;
    /// <summary>Mean time per output token after the first (0 for one-token outputs).</summary>
    public double TpotS => OutputTokens > 1 ? (DoneS - FirstTokenS) / (OutputTokens - 1) : 0;
}

/// <summary>Energy of one instance over one time bin of the power timeline (busy, idle, waking together), and how long it was busy, parked and waking in it.</summary>
public readonly record struct PowerSample(int Instance, double StartS, double EndS, double Joules, double BusySeconds, double ParkedSeconds = 0, double WakingSeconds = 0)
{
    public double Watts => EndS > StartS ? Joules / (EndS - StartS) : 0;
}

/// <summary>Receives per-request results and power samples as the simulation produces them, so nothing per-request has to stay in memory.</summary>
public interface ISimulationSink
{
    /// <summary>Whether <see cref="OnPower"/> should be fed (binning costs a little time).</summary>
    bool WantsPower { get; }
    void OnRequest(in RequestResult result);
    void OnPower(in PowerSample sample);
}

/// <summary>A sink that keeps everything in lists (tests, small runs).</summary>
public sealed class CollectingSink(bool wantsPower = true) : ISimulationSink
{
    public List<RequestResult> Requests { get; } = [];
    public List<PowerSample> Power { get; } = [];
    public bool WantsPower { get; } = wantsPower;
    public void OnRequest(in RequestResult result) => Requests.Add(result);
    public void OnPower(in PowerSample sample) => Power.Add(sample);
}

/// <summary>Forwards to several sinks.</summary>
public sealed class TeeSink(params ISimulationSink[] sinks) : ISimulationSink
{
    public bool WantsPower { get; } = sinks.Any(s => s.WantsPower);
    public void OnRequest(in RequestResult result) { foreach (var s in sinks) s.OnRequest(result); }
    public void OnPower(in PowerSample sample) { foreach (var s in sinks) if (s.WantsPower) s.OnPower(sample); }
}

/// <summary>Per-instance totals.</summary>
public sealed record InstanceStats(
    int Instance,
    long Iterations,
    double BusySeconds,
    double BusyJoules,
    double IdleJoules,
    long Preemptions,
    double PeakKvFraction,
    long RequestsRouted)
{
    public double ParkedSeconds { get; init; }
    public double WakingSeconds { get; init; }
    public double WakingJoules { get; init; }
    public int Wakes { get; init; }
}
