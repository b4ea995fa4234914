using Joules.Simulation;

namespace Joules.Reports;

/// <summary>
/// Collects what a report draws of one simulation: cluster power and busy instances per time bin (summed over
/// instances) and TTFT, TPOT and end-to-end latency histograms for the CDFs, in memory that does not grow with the trace.
/// </summary>
public sealed class ReportSink(double binSeconds) : ISimulationSink
{
    private readonly List<double> _joules = [];
    private readonly List<double> _busySeconds = [];

    public bool WantsPower => true;
    public double BinSeconds { get; } = binSeconds;
    public IReadOnlyList<double> Joules => _joules;
    public LogHistogram Ttft { get; } = new();
    public LogHistogram Tpot { get; } = new();
    public LogHistogram E2e { get; } = new();

    public void OnRequest(in RequestResult r)
    {
        if (r.Rejected) return;
        Ttft.Add(r.TtftS);
        if (r.OutputTokens > 1) Tpot.Add(r.TpotS);
        E2e.Add(r.E2eS);
    }

    public void OnPower(in PowerSample s)
    {
        var bin = (int)Math.Floor(s.StartS / BinSeconds + 1e-9);
        while (_joules.Count <= bin) { _joules.Add(0); _busySeconds.Add(0); }
        _joules[bin] += s.Joules;
        _busySeconds[bin] += s.BusySeconds;
    }

    /// <summary>Mean cluster watts per bin.</summary>
    public double[] Watts() => _joules.Select(j => j / BinSeconds).ToArray();

    /// <summary>Mean number of instances busy (serving an iteration) per bin.</summary>
    public double[] BusyInstances() => _busySeconds.Select(b => b / BinSeconds).ToArray();

    /// <summary>Points (value, fraction of requests at or below it) of a latency's CDF, at <paramref name="points"/> quantiles.</summary>
    public static (double[] X, double[] Y) Cdf(LogHistogram h, int points = 200)
    {
        if (h.Count == 0) return ([], []);
        var x = new double[points];
        var y = new double[points];
        for (var i = 0; i < points; i++)
        {
            var q = (i + 1.0) / points;
            x[i] = h.Quantile(q);
            y[i] = q;
        }
        return (x, y);
    }
}
