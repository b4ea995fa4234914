using Joules.Parquet;
using Joules.Replay;
using Joules.Simulation;

namespace Joules.Validation;

/// <summary>
/// The iterations a measured run made the server run, read from the server's `joules serve --iteration-log` file: when
/// each began and ended on the server's clock and the host time it cost beyond the device (<c>host_s</c>: the gap
/// since the previous engine call plus the engine call's own overshoot of its device time, so no GPU time in it).
/// </summary>
public sealed class MeasuredIterations
{
    private static readonly string[] Columns = ["start_s", "engine_s", "device_s", "gap_s", "host_s"];

    private MeasuredIterations(string path, long firstRow, double[] start, double[] engine, double[] gap, double[] host, bool byCounter)
    {
        Path = path;
        FirstRow = firstRow;
        StartS = start;
        EngineS = engine;
        GapS = gap;
        HostS = host;
        LocatedByCounter = byCounter;
    }

    /// <summary>The iteration log the rows come from.</summary>
    public string Path { get; }
    /// <summary>Row of the log (0-based) holding the run's first iteration.</summary>
    public long FirstRow { get; }
    /// <summary>True when the run recorded where its iterations begin (<see cref="RunServer.IterationsAtStart"/>); false when they were found by the run's counters.</summary>
    public bool LocatedByCounter { get; }
    public double[] StartS { get; }
    public double[] EngineS { get; }
    public double[] GapS { get; }
    public double[] HostS { get; }
    public int Count => HostS.Length;
    public double MeanHostSeconds => HostS.Average();

    /// <summary>
    /// The host time per iteration on the simulation's clock: each iteration's period runs from where the previous
    /// engine call returned (its start less its gap; its start after an idle wait) to where its own engine call returned.
    /// The run's first iteration begins at 0, where the simulation begins its first: the server started it as the run's
    /// first request reached it, and the simulation starts at its first arrival (the HTTP hop between, well under a
    /// millisecond to a few, is not modelled on either side).
    /// </summary>
    public HostTimeSeries Series()
    {
        var n = Count;
        var starts = new double[n];
        var ends = new double[n];
        for (var j = 0; j < n; j++)
        {
            starts[j] = StartS[j] - (double.IsFinite(GapS[j]) ? GapS[j] : 0);
            ends[j] = StartS[j] + EngineS[j];
        }
        var origin = starts[0];
        for (var j = 0; j < n; j++)
        {
            // A gap is measured from the previous engine return, so periods never overlap; clamp rounding at the microsecond scale.
            starts[j] = Math.Max(j > 0 ? starts[j - 1] : 0, starts[j] - origin);
            ends[j] = Math.Max(starts[j], ends[j] - origin);
        }
        return new HostTimeSeries(starts, ends, (double[])HostS.Clone());
    }

    /// <summary>
    /// Reads the rows of <paramref name="logPath"/> that belong to the run: from <see cref="RunServer.IterationsAtStart"/>
    /// when the run recorded it, else the one stretch of consecutive rows whose count, device seconds and host seconds
    /// are the run's counters (runs recorded before the start was kept, and logs covering several runs of one server).
    /// Either way the rows must add up to the run's counters, so a log of another server or another run is an error.
    /// </summary>
    public static MeasuredIterations Load(string logPath, RunMetadata meta)
    {
        if (!File.Exists(logPath)) throw new FileNotFoundException($"{logPath} does not exist: give the file `joules serve --iteration-log` wrote (complete once the server stopped)", logPath);
        var server = meta.Server;
        if (server?.Counter("joules:iterations_total") is not { } counted || server.Counter("joules:iteration_device_seconds_total") is not { } device
            || server.Counter("joules:iteration_host_seconds_total") is not { } host)
            throw new InvalidDataException($"the run's {RunMetadata.FileName} has no joules:iteration counters: an iteration log can only be matched to a run of `joules serve`");
        var n = (long)Math.Round(counted);
        if (n < 1) throw new InvalidDataException($"the run's {RunMetadata.FileName} counts no iterations, so none of {logPath} is its");

        List<double> start = [], engine = [], dev = [], gap = [], hostS = [];
        using (var r = ParquetFileReader.Open(logPath))
        {
            var missing = Columns.Where(c => !r.ReadableColumns.Contains(c)).ToArray();
            if (missing.Length > 0) throw new InvalidDataException($"{logPath}: not an iteration log of `joules serve` (no column {string.Join(", ", missing)})");
            foreach (var g in r.ReadRowGroups(Columns))
            {
                start.AddRange(g.Get<double>("start_s").Span);
                engine.AddRange(g.Get<double>("engine_s").Span);
                dev.AddRange(g.Get<double>("device_s").Span);
                gap.AddRange(g.Get<double>("gap_s").Span);
                hostS.AddRange(g.Get<double>("host_s").Span);
            }
        }
        var rows = start.Count;
        // Running totals as the server keeps its counters (same values, same order, from its start), so the run's stretch
        // reproduces the run's counters (after less before) to rounding.
        var devSum = new double[rows + 1];
        var hostSum = new double[rows + 1];
        for (var i = 0; i < rows; i++)
        {
            devSum[i + 1] = devSum[i] + dev[i];
            hostSum[i + 1] = hostSum[i] + (double.IsNaN(gap[i]) ? 0 : hostS[i]);
        }
        bool Matches(long first) =>
            first >= 0 && first + n <= rows
            && Close(devSum[first + n] - devSum[first], device) && Close(hostSum[first + n] - hostSum[first], host);

        long at;
        var byCounter = server.IterationsAtStart is not null;
        if (server.IterationsAtStart is { } given)
        {
            if (given + n > rows)
                throw new InvalidDataException($"{logPath} holds {rows:N0} iterations, but the run's are rows {given:N0} to {given + n - 1:N0}: not the log of the server the run was sent to, or it was cut short");
            if (!Matches(given))
                throw new InvalidDataException($"{logPath}: rows {given:N0} to {given + n - 1:N0} do not add up to the run's counters " +
                    $"({devSum[given + n] - devSum[given]:F6} s device time, the run's {device:F6} s): not the log of the server the run was sent to");
            at = given;
        }
        else
        {
            var found = new List<long>(1);
            for (long first = 0; first + n <= rows && found.Count < 2; first++)
                if (Matches(first)) found.Add(first);
            if (found.Count != 1)
                throw new InvalidDataException(found.Count == 0
                    ? $"{logPath}: no {n:N0} consecutive iterations add up to the run's counters ({device:F6} s device time, {host:F6} s host time): not the log of the server the run was sent to"
                    : $"{logPath}: more than one stretch of {n:N0} iterations adds up to the run's counters, so which are the run's is unknown");
            at = found[0];
        }
        var k = (int)at;
        var len = (int)n;
        return new MeasuredIterations(logPath, at, start.GetRange(k, len).ToArray(), engine.GetRange(k, len).ToArray(), gap.GetRange(k, len).ToArray(),
            hostS.GetRange(k, len).ToArray(), byCounter);
    }

    // Both sides are the same doubles summed in the same order: only the subtraction of two running totals rounds.
    private static bool Close(double a, double b) => Math.Abs(a - b) <= 1e-9 + 1e-9 * Math.Max(Math.Abs(a), Math.Abs(b));
}
