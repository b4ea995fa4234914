using System.Globalization;
using Joules.Output;
using Joules.Reports;
using Joules.Simulation;

namespace Joules.Replay;

/// <summary>
/// Writes a measured run in the schema of `joules simulate --out` (requests.parquet, power.parquet, summary.json), plus
/// run.json (the metadata `joules validate` reads) and tokens.parquet (every streamed token's time), into a folder that
/// is staged beside its destination and swapped in whole.
/// </summary>
public static class ReplayOutputs
{
    /// <summary>A measured request as the simulator's result row: arrival = actual send, queue unknown (NaN), the endpoint's errors as rejections.</summary>
    public static RequestResult ToResult(MeasuredRequest r) => new(
        r.RequestId, 0, r.SentS, double.NaN, r.FirstTokenS, r.DoneS, r.InputTokens, r.Failed ? r.OutputTokensAsked : r.OutputTokens, 0, double.NaN,
        !r.Failed ? RejectReason.None
        : r.Status == 400 && r.Error!.Contains("maximum context length", StringComparison.OrdinalIgnoreCase) ? RejectReason.MaxModelLen
        : RejectReason.Failed);

    /// <summary>The summary of a measured run, with the metrics the simulator computes the same way (same histograms and quantiles).</summary>
    public static SimulationSummary Summarise(ReplayResult run, SloConfig? slo = null)
    {
        slo ??= new SloConfig();
        var m = new MetricsCollector(slo);
        foreach (var r in run.Requests)
        {
            var x = ToResult(r);
            // The queue time is not visible from outside; the collector needs a number.
            m.Add(x with { FirstScheduledS = x.ArrivalS });
        }
        var meta = run.Metadata;
        var s = meta.Server;
        var cfg = s?.EngineConfig;
        int Int(string key) => cfg is not null && cfg.TryGetValue(key, out var v) && int.TryParse(v, CultureInfo.InvariantCulture, out var n) ? n : 0;
        var end = meta.DurationS;
        var energy = meta.Energy.Joules;
        var total = run.Requests.Count;
        double Frac(long x) => total > 0 ? (double)x / total : double.NaN;
        var engineS = s?.Counter("joules:iteration_engine_seconds_total");
        return new SimulationSummary
        {
            Name = "measured",
            CostModel = $"measured ({meta.Energy.Source})",
            CostModelKind = "measured",
            Gpu = meta.Energy.Gpus.Count > 0 ? meta.Energy.Gpus[0].Name : cfg?.GetValueOrDefault("gpu") ?? "",
            Model = cfg?.GetValueOrDefault("model") ?? meta.Model,
            TensorParallel = 1,
            Instances = 1,
            Router = "-",
            Batching = cfg?.GetValueOrDefault("batching") ?? "",
            Mode = meta.Trace.Offline ? "offline" : "online",
            MaxNumSeqs = Int("max_num_seqs"),
            MaxNumBatchedTokens = Int("max_num_batched_tokens"),
            MaxModelLen = Int("max_model_len"),
            KvBlocksPerInstance = Int("num_gpu_blocks"),
            RequestsTotal = total,
            RequestsCompleted = m.Completed,
            RequestsRejected = m.Rejected,
            RejectedMaxModelLen = m.RejectedMaxModelLen,
            InputTokens = m.InputTokens,
            OutputTokens = m.OutputTokens,
            SimulatedSeconds = end,
            WallSeconds = end,
            Iterations = (long)(s?.Counter("joules:iterations_total") ?? 0),
            Events = 0,
            // NVML gives one counter: the busy/idle split is not measured, so all of it is reported as busy.
            BusyJoules = double.IsFinite(energy) ? energy : double.NaN,
            IdleJoules = 0,
            AttributedJoules = double.NaN,
            Pue = 1,
            CarbonGramsPerKwh = 0,
            PricePerKwh = 0,
            Ttft = Distribution.From(m.Ttft),
            Tpot = Distribution.From(m.Tpot),
            E2e = Distribution.From(m.E2e),
            Queue = new Distribution(double.NaN, double.NaN, double.NaN, double.NaN, double.NaN),
            TtftTargetS = slo.TtftSeconds,
            TpotTargetS = slo.TpotSeconds,
            SloAttainment = Frac(m.BothMet),
            TtftAttainment = Frac(m.TtftMet),
            TpotAttainment = Frac(m.TpotMet),
            BusyFraction = engineS is { } e && end > 0 ? e / end : double.NaN,
            PeakKvFraction = double.NaN,
            Preemptions = (long)(s?.Counter("vllm:num_preemptions_total") ?? 0),
            PerInstance = [],
        };
    }

    /// <summary>The files <see cref="Write"/> puts in a run folder for <paramref name="run"/>, in the order it writes them.</summary>
    public static IReadOnlyList<string> Files(ReplayResult run, bool tokenTimes = true) =>
    [
        "requests.parquet", "power.parquet", .. tokenTimes ? ["tokens.parquet"] : Array.Empty<string>(),
        .. run.Requests.Any(r => r.QueueOrder is not null) ? [QueueOrderFile] : Array.Empty<string>(), "summary.json", RunMetadata.FileName,
    ];

    /// <summary>Writes the run folder (staged, then swapped in whole); returns its final path.</summary>
    public static string Write(string folder, ReplayResult run, bool tokenTimes = true, CancellationToken cancel = default)
    {
        using var staged = StagedDirectory.Create(folder, cancel);
        using (var sink = new TableSink(new ParquetTableWriter(staged.PathFor("requests.parquet")), new ParquetTableWriter(staged.PathFor("power.parquet"))))
        {
            foreach (var r in run.Requests.OrderBy(r => r.ScheduledS)) sink.OnRequest(ToResult(r));
            if (run.Sampler is { } s) foreach (var p in s.Samples) sink.OnPower(p);
            sink.Complete();
        }
        if (tokenTimes) WriteTokens(staged.PathFor("tokens.parquet"), run.Requests);
        if (run.Requests.Any(r => r.QueueOrder is not null)) WriteQueueOrder(staged.PathFor(QueueOrderFile), run.Requests);
        File.WriteAllText(staged.PathFor("summary.json"), SummaryJson.Serialize(Summarise(run)) + Environment.NewLine);
        File.WriteAllText(staged.PathFor(RunMetadata.FileName), run.Metadata.ToJson() + Environment.NewLine);
        staged.Commit();
        return staged.Path;
    }

    /// <summary>File of the order the endpoint queued the requests in (request_id, queue_order), written when it said (joules serve does).</summary>
    public const string QueueOrderFile = "queue-order.parquet";

    private static void WriteQueueOrder(string path, IReadOnlyList<MeasuredRequest> requests)
    {
        var known = requests.Where(r => r.QueueOrder is not null).OrderBy(r => r.QueueOrder).ToArray();
        ColumnBuffer[] c = [new("request_id", ColumnKind.Int64, Math.Max(1, known.Length)), new("queue_order", ColumnKind.Int64, Math.Max(1, known.Length))];
        for (var i = 0; i < known.Length; i++)
        {
            c[0].Int64s![i] = known[i].RequestId;
            c[1].Int64s![i] = known[i].QueueOrder!.Value;
        }
        using var w = new ParquetTableWriter(path);
        w.Open(c);
        if (known.Length > 0) w.WriteRowGroup(c, known.Length);
        w.Complete();
    }

    private static void WriteTokens(string path, IReadOnlyList<MeasuredRequest> requests)
    {
        const int group = 1 << 16;
        ColumnBuffer[] c = [new("request_id", ColumnKind.Int64, group), new("index", ColumnKind.Int32, group), new("time_s", ColumnKind.Double, group)];
        using var w = new ParquetTableWriter(path);
        w.Open(c);
        var rows = 0;
        foreach (var r in requests)
            for (var i = 0; i < r.TokenTimes.Length; i++)
            {
                c[0].Int64s![rows] = r.RequestId;
                c[1].Int32s![rows] = i;
                c[2].Doubles![rows] = r.TokenTimes[i];
                if (++rows == group) { w.WriteRowGroup(c, rows); rows = 0; }
            }
        if (rows > 0) w.WriteRowGroup(c, rows);
        w.Complete();
    }

    /// <summary>The console lines a replay ends with.</summary>
    public static IEnumerable<string> Report(ReplayResult run)
    {
        var s = Summarise(run);
        var m = run.Metadata;
        var ci = CultureInfo.InvariantCulture;
        string Ms(double v) => double.IsFinite(v) ? (v * 1e3).ToString(v < 0.1 ? "F1" : "F0", ci) + " ms" : "-";
        yield return $"endpoint: {m.Endpoint} ({m.Model}); {m.RequestsSent:N0} requests sent in {m.DurationS:F1} s, {m.RequestsCompleted:N0} completed, {m.RequestsFailed:N0} failed";
        yield return $"tokens in / out: {s.InputTokens:N0} / {s.OutputTokens:N0}; throughput {s.RequestsPerSecond:F2} req/s, {s.OutputTokensPerSecond:N0} tok/s";
        yield return m.Energy.Source == "none"
            ? "energy: not measured (--energy none, or neither an NVML GPU here nor an energy counter at the endpoint)"
            : $"energy ({m.Energy.Source}): {m.Energy.Joules / 1e3:N2} kJ, mean power {m.Energy.Joules / Math.Max(1e-9, m.DurationS):N0} W, {s.JPerOutputToken:F3} J per output token";
        yield return $"TTFT p50 / p90 / p99: {Ms(s.Ttft.P50)} / {Ms(s.Ttft.P90)} / {Ms(s.Ttft.P99)}";
        yield return $"TPOT p50 / p90 / p99: {Ms(s.Tpot.P50)} / {Ms(s.Tpot.P90)} / {Ms(s.Tpot.P99)}";
        yield return $"E2E p50 / p90 / p99: {Ms(s.E2e.P50)} / {Ms(s.E2e.P90)} / {Ms(s.E2e.P99)}";
        yield return $"send lag behind schedule: mean {Ms(m.ScheduleLag.Mean)}, p50 {Ms(m.ScheduleLag.P50)}, p99 {Ms(m.ScheduleLag.P99)}, max {Ms(m.ScheduleLag.Max)}";
        foreach (var e in m.Errors) yield return $"error: {e}";
    }
}
