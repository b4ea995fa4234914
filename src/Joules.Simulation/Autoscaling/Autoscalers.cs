using System.Globalization;
using Joules.Profiles;

namespace Joules.Simulation.Autoscaling;

/// <summary>Names of the shipped autoscaling policies.</summary>
public static class AutoscalerNames
{
    public const string Fixed = "fixed";
    public const string Reactive = "reactive";
    public const string Schedule = "schedule";
    public const string Predictive = "predictive";
    public static readonly string[] All = [Fixed, Reactive, Schedule, Predictive];
}

/// <summary>How the number of serving instances follows the load (defaults as Kubernetes' HorizontalPodAutoscaler).</summary>
public sealed record AutoscalerConfig
{
    public string Kind { get; init; } = AutoscalerNames.Fixed;
    /// <summary>Fewest serving instances; 0 allows scale-to-zero (as KEDA), the first request then waits for a cold start.</summary>
    public int MinInstances { get; init; } = 1;
    /// <summary>What the reactive policy holds near its target: requests in flight per instance, or KV-cache use.</summary>
    public string Signal { get; init; } = "requests";
    /// <summary>Target of the signal per instance (requests in flight, or a KV-use fraction).</summary>
    public double Target { get; init; } = 32;
    /// <summary>Seconds between decisions (HPA's sync period: 15 s).</summary>
    public double IntervalSeconds { get; init; } = 15;
    /// <summary>Scale-up stabilisation window (HPA default 0 s): the lowest recommendation over it wins.</summary>
    public double ScaleUpWindowSeconds { get; init; } = 0;
    /// <summary>Scale-down stabilisation window (HPA default 300 s): the highest recommendation over it wins.</summary>
    public double ScaleDownWindowSeconds { get; init; } = 300;
    /// <summary>Schedule policy: instances per hour of day (UTC), e.g. "0:2,8:6,18:4".</summary>
    public string? Schedule { get; init; }
    /// <summary>Predictive policy: spare capacity kept above the predicted load.</summary>
    public double Headroom { get; init; } = 0.2;
    /// <summary>Where a cold instance loads its weights from.</summary>
    public WeightSource WeightsFrom { get; init; } = WeightSource.Nvme;

    public bool IsFixed => Kind == AutoscalerNames.Fixed;

    public void Validate(int maxInstances)
    {
        if (Array.IndexOf(AutoscalerNames.All, Kind) < 0) throw new ArgumentException($"--autoscaler: '{Kind}' is not one of {string.Join(", ", AutoscalerNames.All)}");
        if (MinInstances < 0 || MinInstances > maxInstances) throw new ArgumentException($"--min-instances: must be between 0 and --instances ({maxInstances}), got {MinInstances}");
        if (Signal is not ("requests" or "kv")) throw new ArgumentException($"--scale-signal: '{Signal}' is not requests or kv");
        if (!(Target > 0)) throw new ArgumentException($"--scale-target: must be positive, got {Target}");
        if (Signal == "kv" && Target > 1) throw new ArgumentException($"--scale-target: a KV-use target is a fraction in (0, 1], got {Target}");
        if (!(IntervalSeconds > 0)) throw new ArgumentException($"--scale-interval: must be positive, got {IntervalSeconds}");
        if (Kind == AutoscalerNames.Schedule) ScheduleAutoscaler.Parse(Schedule ?? throw new ArgumentException("--autoscaler schedule needs --schedule HOUR:INSTANCES,... (e.g. 0:2,8:6,18:4)"), maxInstances);
    }
}

/// <summary>What an autoscaler sees at a decision.</summary>
/// <param name="Now">Simulated seconds since the first arrival.</param>
/// <param name="HourOfDay">Hour of day (UTC, fractional) of <paramref name="Now"/>.</param>
/// <param name="Current">Instances serving or waking (what HPA calls current replicas).</param>
/// <param name="InFlight">Requests running or waiting on them.</param>
/// <param name="MeanKvUse">Mean KV-cache use over serving instances.</param>
/// <param name="ArrivalsPerSecond">Arrival rate over the last interval.</param>
/// <param name="MeanInput">Mean prompt tokens of the requests so far.</param>
/// <param name="MeanOutput">Mean output tokens of the requests so far.</param>
public readonly record struct AutoscaleSignal(double Now, double HourOfDay, int Current, long InFlight, double MeanKvUse, double ArrivalsPerSecond, double MeanInput, double MeanOutput);

/// <summary>Decides how many instances should serve.</summary>
public interface IAutoscaler
{
    string Name { get; }
    /// <summary>Instances the policy wants now, before the cluster clamps it to [min, max].</summary>
    int Desired(in AutoscaleSignal signal);
}

/// <summary>Builds autoscalers from their configuration.</summary>
public static class Autoscalers
{
    public static IAutoscaler? Create(AutoscalerConfig cfg, int maxInstances, ICostModel cost, EngineConfig engine, SloConfig slo) => cfg.Kind switch
    {
        AutoscalerNames.Fixed => null,
        AutoscalerNames.Reactive => new ReactiveAutoscaler(cfg),
        AutoscalerNames.Schedule => new ScheduleAutoscaler(ScheduleAutoscaler.Parse(cfg.Schedule!, maxInstances)),
        AutoscalerNames.Predictive => new PredictiveAutoscaler(cfg, cost, engine, slo),
        var k => throw new ArgumentException($"--autoscaler: '{k}' is not one of {string.Join(", ", AutoscalerNames.All)}"),
    };
}

/// <summary>
/// Kubernetes HPA's rule: desired = ceil(current x signal / target) (ignored within a 10 % tolerance), scale-up taking
/// the lowest and scale-down the highest recommendation over their stabilisation windows.
/// </summary>
public sealed class ReactiveAutoscaler(AutoscalerConfig cfg) : IAutoscaler
{
    /// <summary>HPA's default tolerance: no change while the ratio stays within 10 % of 1.</summary>
    public const double Tolerance = 0.1;
    private readonly List<(double T, int N)> _history = [];

    public string Name => $"reactive ({cfg.Signal} per instance -> {cfg.Target.ToString(CultureInfo.InvariantCulture)})";

    public int Desired(in AutoscaleSignal s)
    {
        var current = Math.Max(1, s.Current);
        var metric = cfg.Signal == "kv" ? s.MeanKvUse : (double)s.InFlight / current;
        var ratio = metric / cfg.Target;
        var raw = s.Current == 0 ? (s.InFlight > 0 ? 1 : 0)
            : Math.Abs(ratio - 1) <= Tolerance ? s.Current
            : (int)Math.Ceiling(current * ratio);
        _history.Add((s.Now, raw));
        var keep = Math.Max(cfg.ScaleUpWindowSeconds, cfg.ScaleDownWindowSeconds);
        var cut = 0;
        while (cut < _history.Count && _history[cut].T < s.Now - keep) cut++;
        if (cut > 0) _history.RemoveRange(0, cut);
        int upMin = int.MaxValue, downMax = int.MinValue;
        foreach (var (t, n) in _history)
        {
            if (t >= s.Now - cfg.ScaleUpWindowSeconds) upMin = Math.Min(upMin, n);
            if (t >= s.Now - cfg.ScaleDownWindowSeconds) downMax = Math.Max(downMax, n);
        }
        if (raw > s.Current) return Math.Max(s.Current, upMin);
        if (raw < s.Current) return Math.Min(s.Current, downMax);
        return s.Current;
    }
}

/// <summary>Instances by hour of day (UTC), as a CronJob-driven scaler or KEDA's cron trigger would set them.</summary>
public sealed class ScheduleAutoscaler(IReadOnlyList<(double Hour, int N)> table) : IAutoscaler
{
    public string Name => "schedule (" + string.Join(",", table.Select(e => $"{e.Hour.ToString(CultureInfo.InvariantCulture)}:{e.N}")) + ")";

    public int Desired(in AutoscaleSignal s)
    {
        var n = table[^1].N; // before the first entry of the day, the last entry of the previous day holds
        foreach (var (h, k) in table) if (s.HourOfDay >= h) n = k;
        return n;
    }

    /// <summary>Parses "HOUR:INSTANCES,..." (hours 0-24, fractional allowed), sorted by hour.</summary>
    public static IReadOnlyList<(double Hour, int N)> Parse(string text, int maxInstances)
    {
        var list = new List<(double, int)>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var c = part.Split(':');
            if (c.Length != 2 || !double.TryParse(c[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var h) || h < 0 || h >= 24
                || !int.TryParse(c[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) || n < 0 || n > maxInstances)
                throw new ArgumentException($"--schedule: '{part}' is not HOUR:INSTANCES with HOUR in [0, 24) and INSTANCES in 0..{maxInstances}");
            list.Add((h, n));
        }
        if (list.Count == 0) throw new ArgumentException("--schedule: give at least one HOUR:INSTANCES entry");
        return list.OrderBy(e => e.Item1).ToArray();
    }
}

/// <summary>
/// SLO-aware and predictive: forecasts the arrival rate a cold start ahead (smoothed rate plus its trend) and keeps
/// enough instances that each stays within the decode batch whose step meets 80 % of the TPOT target, plus headroom.
/// </summary>
public sealed class PredictiveAutoscaler : IAutoscaler
{
    private readonly AutoscalerConfig _cfg;
    private readonly ICostModel _cost;
    private readonly EngineConfig _engine;
    private readonly SloConfig _slo;
    private double _rate = double.NaN;
    private double _trend;
    private double _lastNow;

    public PredictiveAutoscaler(AutoscalerConfig cfg, ICostModel cost, EngineConfig engine, SloConfig slo)
    {
        _cfg = cfg;
        _cost = cost;
        _engine = engine;
        _slo = slo;
    }

    public string Name => $"predictive (TPOT {(_slo.TpotSeconds * 1000).ToString("G3", CultureInfo.InvariantCulture)} ms, headroom {_cfg.Headroom:P0})";

    /// <summary>Seconds ahead the forecast looks (a cold start); set by the cluster.</summary>
    public double LeadSeconds { get; set; } = 60;

    public int Desired(in AutoscaleSignal s)
    {
        // Exponential smoothing over about four intervals, and of the rate's slope.
        const double alpha = 0.25;
        if (double.IsNaN(_rate)) _rate = s.ArrivalsPerSecond;
        else
        {
            var dt = Math.Max(1e-9, s.Now - _lastNow);
            var next = alpha * s.ArrivalsPerSecond + (1 - alpha) * _rate;
            _trend = alpha * ((next - _rate) / dt) + (1 - alpha) * _trend;
            _rate = next;
        }
        _lastNow = s.Now;
        var forecast = Math.Max(s.ArrivalsPerSecond, _rate + Math.Max(0, _trend) * LeadSeconds);
        var capacity = Capacity(s.MeanInput, s.MeanOutput);
        if (!(capacity > 0)) return s.Current;
        var need = forecast * (1 + _cfg.Headroom) / capacity;
        return s.InFlight > 0 || forecast > 0 ? Math.Max(1, (int)Math.Ceiling(need)) : 0;
    }

    /// <summary>Requests per second one instance serves within the TPOT target at these mean lengths (Little's law at the largest batch that meets it).</summary>
    public double Capacity(double meanInput, double meanOutput)
    {
        meanInput = Math.Max(1, meanInput);
        meanOutput = Math.Max(1, meanOutput);
        var context = (long)(meanInput + meanOutput / 2);
        var best = 1;
        for (var b = 1; b <= _engine.MaxNumSeqs; b = b < 16 ? b + 1 : b + b / 8)
        {
            if (_cost.Estimate(IterationShape.Decode(b, context)).Seconds > 0.8 * _slo.TpotSeconds) break;
            best = b;
        }
        var step = _cost.Estimate(IterationShape.Decode(best, context)).Seconds;
        var prefill = _cost.Estimate(IterationShape.Prefill(1, (long)meanInput)).Seconds;
        // GPU time one request occupies: its prefill alone, its decode steps shared with the batch.
        var perRequest = prefill + meanOutput * step / best;
        return 1 / perRequest;
    }
}
