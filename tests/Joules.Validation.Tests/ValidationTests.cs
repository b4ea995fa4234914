using System.Text.Json;
using Joules.Replay;
using Joules.Simulation;
using Xunit;

namespace Joules.Validation.Tests;

/// <summary>One `joules serve --engine sim` run replayed over HTTP, shared by the tests of <see cref="ValidationTests"/> (it takes 20 s of real time).</summary>
public sealed class SimServedRun : IAsyncLifetime
{
    private static string ShippedTrace => Path.Combine(Joules.Tests.RepoPaths.Root, ShippedData.DefaultTrace);
    public string Dir { get; private set; } = "";
    public string Run { get; private set; } = "";
    /// <summary>The server's --iteration-log, complete once the server stopped (at the end of <see cref="InitializeAsync"/>).</summary>
    public string Log { get; private set; } = "";

    public async Task InitializeAsync()
    {
        Dir = Directory.CreateTempSubdirectory("joules-validate-").FullName;
        Log = Path.Combine(Dir, "iterations.parquet");
        await using var server = await SimEndpoint.Start(s => s.With(Joules.Serving.ServeSettings.IterationLog, Log));
        // A warm-up backlog that is not kept, as the GPU validation does: the server's and the client's first requests
        // pay for JIT compilation and connection set-up, which on a loaded machine moved E2E p50 by 15-18 %.
        await ReplayRunner.RunAsync(new ReplayOptions
        {
            Endpoint = server.Url, TracePath = ShippedTrace, Window = new ReplayWindow { StartS = 0, Limit = 20, Offline = true }, Energy = EnergyMode.None,
        });
        var run = await ReplayRunner.RunAsync(new ReplayOptions
        {
            Endpoint = server.Url, TracePath = ShippedTrace, Window = new ReplayWindow { StartS = 30, DurationS = 20, RateScale = 2 },
        });
        Run = ReplayOutputs.Write(Path.Combine(Dir, "run"), run, tokenTimes: false);
    }

    public Task DisposeAsync()
    {
        Directory.Delete(Dir, true);
        return Task.CompletedTask;
    }
}

/// <summary>
/// The collection of the real-time run: it measures latencies, so no other test of this assembly (the committed GPU
/// runs' validations are seconds of CPU) runs beside it and competes for the process's thread pool.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class RealTimeCollection
{
    public const string Name = "real-time sim-served run";
}

/// <summary>`joules serve --engine sim` + `joules replay` + `joules validate` on a short trace: the measured run and its re-simulation must agree within what timers allow.</summary>
[Collection(RealTimeCollection.Name)]
public class ValidationTests(SimServedRun served) : IClassFixture<SimServedRun>
{
    private readonly string _dir = served.Dir;
    private readonly string _run = served.Run;
    private readonly string _log = served.Log;

    private ValidationOptions Options(ValidationLimits? limits = null) =>
        new() { ProfileRoot = Joules.Tests.RepoPaths.Calibration, Limits = limits ?? new(), IterationLog = _log };

    [Fact]
    public void TheSimEngineRunAndItsSimulationAgree()
    {
        var v = RunValidator.Validate(_run, Options());
        double Err(string name) => Math.Abs(v.Metrics.Single(m => m.Name == name).ErrorPct);
        // The sim engine waits each iteration's price; what separates the two is host time between iterations and the OS
        // timer's wake-up lateness in the engine's wait, which the server logs per iteration and the simulation replays at
        // the same moments of the run (on a loaded machine they come in bursts that one mean would spread evenly).
        Assert.Equal(HostTimeSource.PerIteration, v.HostTime);
        Assert.True(Err("energy_j") < 5, $"energy {Err("energy_j"):F1} %");
        Assert.True(Err("duration_s") < 5, $"duration {Err("duration_s"):F1} %");
        Assert.True(Err("e2e_p50_s") < 15, $"E2E p50 {Err("e2e_p50_s"):F1} %");
        Assert.True(Err("tpot_p50_s") < 15, $"TPOT p50 {Err("tpot_p50_s"):F1} %");
        // TTFT p50 of a light run is tens of milliseconds, so a few milliseconds of HTTP round trip and timer jitter
        // (what the simulation has no model of) are a large share: relative or absolute, whichever is looser.
        var ttft = v.Metrics.Single(m => m.Name == "ttft_p50_s");
        Assert.True(Err("ttft_p50_s") < 30 || Math.Abs(ttft.Simulated - ttft.Measured) < 0.010,
            $"TTFT p50 {ttft.Measured * 1e3:F1} ms measured, {ttft.Simulated * 1e3:F1} ms simulated ({Err("ttft_p50_s"):F1} %)");
        Assert.Equal(0, Err("requests_completed"));
        Assert.True(v.IterationOverheadMs > 0);
        Assert.Contains("ms/iteration host", v.CostModel);
        Assert.Equal(v.Run.Server!.Counter("joules:iterations_total"), v.Iterations!.Count);
        Assert.Equal(v.Run.Server!.CacheConfig!["num_gpu_blocks"], v.Simulated.KvBlocksPerInstance.ToString());
        // Both power series cover the run and hold its energy.
        var n = v.MeasuredWatts.Length;
        var binned = v.MeasuredWatts.Select((w, i) => w * Math.Min(v.PowerBinS, v.Run.DurationS - i * v.PowerBinS)).Sum();
        Assert.Equal(v.Run.Energy.Joules, binned, v.Run.Energy.Joules * 0.01);
        Assert.Equal(n, (int)Math.Ceiling(v.Run.DurationS / v.PowerBinS - 1e-9));
    }

    [Fact]
    public void WithoutTheIterationLogEveryIterationPaysTheRunsMean()
    {
        var v = RunValidator.Validate(_run, Options() with { IterationLog = null });
        Assert.Equal(HostTimeSource.RunMean, v.HostTime);
        Assert.Null(v.Iterations);
        Assert.Equal(v.Run.Server!.HostSecondsPerIteration!.Value * 1000, v.IterationOverheadMs, 9);
        Assert.Contains($"+ {v.IterationOverheadMs:0.###} ms/iteration host", v.CostModel);
        Assert.DoesNotContain("per iteration", v.CostModel);
        Assert.Equal(v.Run.RequestsCompleted, v.Simulated.RequestsCompleted);
        Assert.Equal("run_mean", JsonDocument.Parse(ValidationReport.Json(v)).RootElement.GetProperty("host_time").GetString());
        var given = RunValidator.Validate(_run, Options() with { IterationLog = null, Overrides = new ScenarioSpec().With(Joules.Simulation.Settings.SimulateSettings.IterationOverheadMs, 2.0) });
        Assert.Equal(HostTimeSource.Given, given.HostTime);
        Assert.Equal(2.0, given.IterationOverheadMs);
    }

    [Fact]
    public void TheRunsIterationsAreTheRowsOfTheLogThatAddUpToItsCounters()
    {
        var run = MeasuredRun.Load(_run).Metadata;
        var server = run.Server!;
        var it = MeasuredIterations.Load(_log, run);
        // The warm-up backlog ran first on the same server, so the run's rows start after its iterations.
        Assert.True(server.IterationsAtStart > 0);
        Assert.Equal(server.IterationsAtStart, it.FirstRow);
        Assert.True(it.LocatedByCounter);
        Assert.Equal(server.Counter("joules:iterations_total"), it.Count);
        Assert.Equal(server.Counter("joules:iteration_host_seconds_total")!.Value, it.HostS.Where((_, j) => !double.IsNaN(it.GapS[j])).Sum(), 9);
        // Each gap runs from the previous engine call's return, so engine calls and gaps tile a busy stretch: no host
        // time (commit, streaming) is counted nowhere.
        for (var j = 1; j < it.Count; j++)
            if (!double.IsNaN(it.GapS[j])) Assert.Equal(it.StartS[j - 1] + it.EngineS[j - 1], it.StartS[j] - it.GapS[j], 9);
        // On the simulation's clock the run's first iteration begins at 0 and the periods follow one another.
        var series = it.Series();
        Assert.Equal(it.Count, series.Count);
        Assert.Equal(it.HostS[0], series.At(0));
        Assert.Equal(it.HostS.Sum(), series.TotalSeconds, 12);

        // A run recorded without the start is found by its counters, at the same rows.
        var copy = Directory.CreateDirectory(Path.Combine(_dir, "no-iterations-at-start")).FullName;
        foreach (var f in Directory.GetFiles(_run)) File.Copy(f, Path.Combine(copy, Path.GetFileName(f)), true);
        File.WriteAllText(Path.Combine(copy, RunMetadata.FileName), (run with { Server = server with { IterationsAtStart = null } }).ToJson());
        var found = MeasuredIterations.Load(_log, RunMetadata.Load(copy));
        Assert.False(found.LocatedByCounter);
        Assert.Equal(it.FirstRow, found.FirstRow);
        var v = RunValidator.Validate(copy, Options());
        Assert.Equal(it.FirstRow, v.Iterations!.FirstRow);
        var json = JsonDocument.Parse(ValidationReport.Json(v)).RootElement;
        Assert.Equal("per_iteration", json.GetProperty("host_time").GetString());
        Assert.Equal("counters", json.GetProperty("iteration_log").GetProperty("located_by").GetString());
        Assert.Contains("measured per iteration", string.Join('\n', ValidationReport.Lines(v)));

        // Rows that do not add up to the run's counters are another server's or another run's.
        var shifted = Path.Combine(_dir, "shifted-run.json");
        File.WriteAllText(shifted, (run with { Server = server with { IterationsAtStart = server.IterationsAtStart - 1 } }).ToJson());
        Assert.Contains("do not add up to the run's counters", Assert.Throws<InvalidDataException>(() => MeasuredIterations.Load(_log, RunMetadata.Load(shifted))).Message);
        Assert.Contains("no column", Assert.Throws<InvalidDataException>(() => MeasuredIterations.Load(Path.Combine(_run, "requests.parquet"), run)).Message);
        Assert.Contains("not both", Assert.Throws<ArgumentException>(() => RunValidator.Validate(_run,
            Options() with { Overrides = new ScenarioSpec().With(Joules.Simulation.Settings.SimulateSettings.IterationOverheadMs, 1.0) })).Message);
    }

    [Fact]
    public void ALimitThatIsMissedFailsTheValidationAndJsonSaysWhich()
    {
        var v = RunValidator.Validate(_run, Options(new ValidationLimits { EnergyPct = 0, TpotP50Pct = 1000 }));
        Assert.False(v.Passed);
        var json = JsonDocument.Parse(ValidationReport.Json(v)).RootElement;
        Assert.False(json.GetProperty("passed").GetBoolean());
        Assert.False(json.GetProperty("metrics").GetProperty("energy_j").GetProperty("passed").GetBoolean());
        Assert.True(json.GetProperty("metrics").GetProperty("tpot_p50_s").GetProperty("passed").GetBoolean());
        Assert.Contains("MISSED", string.Join('\n', ValidationReport.Lines(v)));
        Assert.Contains("<section id=\"validation\">", ValidationReport.Html(v));
    }

    [Fact]
    public void SentArrivalsReplayTheRecordedSendTimes()
    {
        var v = RunValidator.Validate(_run, Options() with { Arrivals = ArrivalSource.Sent });
        Assert.Equal(v.Run.RequestsSent, v.Simulated.RequestsTotal);
    }

    [Fact]
    public void TheServersQueueOrderIsRecordedAndCanDriveTheArrivals()
    {
        // joules serve numbers its queue in a response header; replay keeps it in queue-order.parquet.
        var run = MeasuredRun.Load(_run);
        Assert.True(File.Exists(Path.Combine(_run, ReplayOutputs.QueueOrderFile)));
        Assert.Equal(run.Requests.Count(r => !r.Rejected), run.QueueOrder.Count);
        Assert.Equal(run.QueueOrder.Count, run.QueueOrder.Values.Distinct().Count());
        var received = run.ReceivedTrace().ToList();
        // The same requests at the same times, handed out in queue order.
        Assert.Equal(run.Requests.Select(r => r.RequestId).Order(), received.Select(t => t.RequestId).Order());
        Assert.Equal(run.Requests.Select(r => (long)Math.Round(r.ArrivalS * 1e6)).Order(), received.Select(t => t.ArrivalMicros));
        var placed = received.Where(t => run.QueueOrder.ContainsKey(t.RequestId)).Select(t => run.QueueOrder[t.RequestId]).ToList();
        Assert.Equal(placed.Order(), placed);
        var v = RunValidator.Validate(_run, Options() with { Arrivals = ArrivalSource.Received });
        Assert.Equal(v.Run.RequestsSent, v.Simulated.RequestsTotal);
        Assert.Contains("server's queue order", string.Join('\n', ValidationReport.Lines(v)));
    }

    [Fact]
    public void ReceivedArrivalsNeedARunThatRecordedTheQueue()
    {
        var copy = Directory.CreateDirectory(Path.Combine(_dir, "no-queue-order")).FullName;
        foreach (var f in Directory.GetFiles(_run)) if (Path.GetFileName(f) != ReplayOutputs.QueueOrderFile) File.Copy(f, Path.Combine(copy, Path.GetFileName(f)));
        var e = Assert.Throws<InvalidDataException>(() => RunValidator.Validate(copy, Options() with { Arrivals = ArrivalSource.Received }));
        Assert.Contains("--arrivals trace or sent", e.Message);
    }

    [Fact]
    public void AnotherTraceFileIsRefused()
    {
        var other = Path.Combine(_dir, "other.csv");
        File.WriteAllText(other, "request_id,arrival_time,input_tokens,output_tokens\n1,2024-01-01T00:00:00Z,10,10\n");
        var e = Assert.Throws<InvalidDataException>(() => RunValidator.Validate(_run, Options() with { TracePath = other }));
        Assert.Contains("is not the trace the run sent", e.Message);
    }

    [Fact]
    public void FoldersThatAreNotRunsAreClearErrors()
    {
        Assert.Contains("no such folder", Assert.Throws<DirectoryNotFoundException>(() => MeasuredRun.Load(Path.Combine(_dir, "absent"))).Message);
        var empty = Directory.CreateDirectory(Path.Combine(_dir, "empty")).FullName;
        Assert.Contains("joules replay --out", Assert.Throws<FileNotFoundException>(() => MeasuredRun.Load(empty)).Message);
        File.WriteAllText(Path.Combine(empty, RunMetadata.FileName), "{\"format\": \"something-else\"}");
        Assert.Contains("not a run metadata file", Assert.Throws<InvalidDataException>(() => MeasuredRun.Load(empty)).Message);
        File.WriteAllText(Path.Combine(empty, RunMetadata.FileName), "{ not json");
        Assert.Contains("not a run metadata file", Assert.Throws<InvalidDataException>(() => MeasuredRun.Load(empty)).Message);
    }

    [Fact]
    public void BinningKeepsEveryJoule()
    {
        var samples = new List<PowerSample> { new(0, 0, 0.25, 100, 0), new(0, 0.25, 1.7, 300, 0), new(1, 0, 2.0, 50, 0) };
        var w = RunValidator.Bin(samples, 0.5, 2.0);
        Assert.Equal(4, w.Length);
        Assert.Equal(450, w.Sum() * 0.5, 9);
    }
}
