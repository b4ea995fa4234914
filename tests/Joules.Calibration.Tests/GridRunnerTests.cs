using Joules.Calibration.Measurement;
using Joules.Profiles;
using Joules.Profiles.Measured;
using Xunit;

namespace Joules.Calibration.Tests;

public class GridRunnerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("joules-runner-").FullName;
    private static readonly MeasurementOptions Fast = MeasurementOptions.Quick with { BackgroundSampling = false, Trials = 2, WindowSeconds = 0.5, SettleSeconds = 0.1, SettleMaxSeconds = 0.2, IdleWindowSeconds = 0.5, IdleTrials = 2 };

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string LogPath => Path.Combine(_dir, "raw.jsonl");

    private static CalibrationPlan Plan(string model = "llama-3.1-8b", IReadOnlyList<uint>? clocks = null) => new()
    {
        Model = Catalog.Model(model),
        Grid = CalibrationGrid.Quick(),
        SmClocks = clocks ?? [],
        ToolVersion = "test",
        Command = "joules calibrate --quick",
        CreatedUtc = new DateTimeOffset(2026, 11, 22, 5, 0, 0, TimeSpan.Zero),
    };

    private static (FakeGpu Gpu, FakeWorkload Work, CalibrationRunner Runner, StringWriter Progress) Machine(long memoryTokens = long.MaxValue)
    {
        var gpu = new FakeGpu();
        var work = new FakeWorkload(gpu, FakeWorkload.DefaultLaw) { MemoryTokens = memoryTokens };
        var progress = new StringWriter();
        return (gpu, work, new CalibrationRunner(gpu, work, gpu, Fast, progress), progress);
    }

    [Fact]
    public void RunMeasuresTheGridSkipsWhatDoesNotFitAndBuildsAProfile()
    {
        var (_, work, runner, progress) = Machine(memoryTokens: 200_000);
        var plan = Plan();
        var result = runner.Run(plan, LogPath, force: false, clockControl: null, default);

        // decode 256 x 2048 needs 524k KV tokens: skipped and listed.
        Assert.Contains(result.Skipped, s => s.Point == new CalibrationPoint(Phase.Decode, 256, 1, 2048));
        Assert.Equal(plan.Grid.Points.Count - result.Skipped.Count, result.Profile.Points.Count(p => p.Phase != ProfilePhase.Idle));
        Assert.Single(result.Profile.Points, p => p.Phase == ProfilePhase.Idle);
        Assert.Equal(70, result.Profile.IdlePowerWatts, 1.0);
        foreach (var p in result.Profile.Points.Where(p => p.Phase != ProfilePhase.Idle))
        {
            var (t, w) = FakeWorkload.DefaultLaw(p.Shape);
            Assert.True(Math.Abs(p.IterationSeconds / t - 1) < 1e-6, $"{p}: time {p.IterationSeconds} vs {t}");
            Assert.True(Math.Abs(p.EnergyJoules / (t * w) - 1) < 0.01, $"{p}: energy {p.EnergyJoules} vs {t * w}");
            Assert.Equal(2, p.Repeats);
        }
        Assert.Equal("NVIDIA H100 80GB HBM3", result.Profile.Metadata.GpuName);
        Assert.Equal("llama-3.1-8b", result.Profile.Metadata.Model.Name);
        Assert.Contains("quick", result.Profile.Metadata.Grid);
        var text = progress.ToString();
        Assert.Contains($"[2/{plan.Grid.Points.Count + 1}]", text);
        Assert.Contains("ETA", text);
        Assert.Contains("skipped", text);

        // The measured profile drives a cost model whose held-out error is small on this smooth law.
        var cv = new ProfileCostModel(result.Profile).CrossValidate();
        Assert.True(cv.MedianEnergyError < 0.05, $"median energy error {cv.MedianEnergyError:P1}");
    }

    [Fact]
    public void TheRunMeasuresStandInsListsTheGridPointsAsSkippedAndResumesWithoutRemeasuring()
    {
        // calibrate --fit-to-memory: a point that does not fit is measured at the longest decode context that does.
        var plan = Plan() with { FitToMemory = true };
        var (_, _, runner, progress) = Machine(memoryTokens: 200_000);
        var result = runner.Run(plan, LogPath, force: false, clockControl: null, default);

        // The quick grid's decode b=128 and b=256 at 2048 need 262k and 524k tokens; 200k hold them at 1536 and 768.
        var skipped = result.Skipped.ToDictionary(s => s.Point, s => s.Reason);
        Assert.Equal(2, skipped.Count);
        Assert.EndsWith("measured as decode b=256 ctx=768 instead", skipped[new CalibrationPoint(Phase.Decode, 256, 1, 2048)]);
        Assert.EndsWith("measured as decode b=128 ctx=1536 instead", skipped[new CalibrationPoint(Phase.Decode, 128, 1, 2048)]);
        var decodes = result.Profile.Points.Where(p => p.Phase == ProfilePhase.Decode).Select(p => (p.BatchSize, p.ContextTokens)).ToHashSet();
        Assert.Contains((256, 768), decodes);
        Assert.Contains((128, 1536), decodes);
        Assert.DoesNotContain((256, 2048), decodes);
        // Every grid point is measured or listed as skipped, and the profile holds the grid's measured points plus the stand-ins.
        Assert.Equal(plan.Grid.Points.Count, result.Profile.Points.Count(p => p.Phase != ProfilePhase.Idle));
        foreach (var p in result.Profile.Points.Where(p => p.Phase == ProfilePhase.Decode))
        {
            var (t, _) = FakeWorkload.DefaultLaw(p.Shape);
            Assert.True(Math.Abs(p.IterationSeconds / t - 1) < 1e-6, $"{p}: time {p.IterationSeconds} vs {t}");
        }
        Assert.Matches(@"decode b=256 ctx=2048: does not fit \(needs \d+ KV tokens, 200000 fit\); measuring decode b=256 ctx=768 instead", progress.ToString());

        // Resumed: nothing is measured again.
        var (_, work2, runner2, _) = Machine(memoryTokens: 200_000);
        var again = runner2.Run(plan, LogPath, force: false, clockControl: null, default);
        Assert.Empty(work2.Prepared);
        Assert.Equal(result.Profile.Points.Count, again.Profile.Points.Count);

        // Without the option the same grid point is only skipped, and the message says what the option would do.
        var (_, _, runner3, progress3) = Machine(memoryTokens: 200_000);
        var plain = runner3.Run(plan with { FitToMemory = false }, Path.Combine(_dir, "plain.jsonl"), force: false, clockControl: null, default);
        Assert.Equal(plan.Grid.Points.Count - 2, plain.Profile.Points.Count(p => p.Phase != ProfilePhase.Idle));
        Assert.Contains("--fit-to-memory measures it at the longest decode context that fits", progress3.ToString());
    }

    [Fact]
    public void AnInterruptedRunResumesLosingAtMostThePointInProgress()
    {
        var (_, work, runner, _) = Machine();
        using var cts = new CancellationTokenSource();
        var prepared = 0;
        work.OnEnqueue = _ => { if (work.Prepared.Count == 5 && ++prepared == 3) cts.Cancel(); };
        Assert.ThrowsAny<OperationCanceledException>(() => runner.Run(Plan(), LogPath, false, null, cts.Token));
        var (_, donePoints, _) = RawLog.ReadAll(LogPath);
        Assert.Equal(1 + 4, donePoints.Count); // idle + 4 points; the 5th was in progress

        var (_, work2, runner2, progress2) = Machine();
        var result = runner2.Run(Plan(), LogPath, false, null, default);
        Assert.Equal(Plan().Grid.Points.Count - 4, work2.Prepared.Count);
        Assert.DoesNotContain(work2.Prepared, c => work.Prepared.Take(4).Any(d => d.Shape == c.Shape));
        Assert.Equal(5, result.Resumed);
        Assert.Contains("resuming", progress2.ToString());
        Assert.Equal(Plan().Grid.Points.Count, result.Profile.Points.Count(p => p.Phase != ProfilePhase.Idle));

        // A third run has nothing left to do.
        var (_, work3, runner3, _) = Machine();
        runner3.Run(Plan(), LogPath, false, null, default);
        Assert.Empty(work3.Prepared);
    }

    [Fact]
    public void AHalfWrittenLastLineIsTolerated()
    {
        var (_, _, runner, _) = Machine();
        runner.Run(Plan() with { Grid = CalibrationGrid.Quick(CalibrationGrid.ParsePhases("mixed")) }, LogPath, false, null, default);
        File.AppendAllText(LogPath, "{\"type\":\"trial\",\"key\":\"pre");
        var (_, _, runner2, _) = Machine();
        var result = runner2.Run(Plan() with { Grid = CalibrationGrid.Quick(CalibrationGrid.ParsePhases("mixed")) }, LogPath, false, null, default);
        Assert.Equal(2, result.Profile.Points.Count(p => p.Phase == ProfilePhase.Mixed));
        Assert.All(File.ReadAllLines(LogPath).Skip(1).Where(l => l.Length > 0 && !l.StartsWith("{\"type\":\"trial\",\"key\":\"pre")), l => Assert.StartsWith("{", l));
    }

    [Fact]
    public void ALogIsResumedOnlyByTheEngineThatStartedIt()
    {
        var engineA = new Dictionary<string, string> { ["engine.decode_attention"] = "work-list, items of at most 8 query heads", ["engine.kernels_sha256"] = "aaaa" };
        var engineB = new Dictionary<string, string>(engineA) { ["engine.kernels_sha256"] = "bbbb" };
        var (_, work, runner, _) = Machine();
        using var cts = new CancellationTokenSource();
        var prepared = 0;
        work.OnEnqueue = _ => { if (work.Prepared.Count == 3 && ++prepared == 3) cts.Cancel(); };
        Assert.ThrowsAny<OperationCanceledException>(() => runner.Run(Plan() with { ExtraMetadata = engineA }, LogPath, false, null, cts.Token));
        Assert.Contains($"\"engine\":\"{RawLogHeader.EngineFingerprint(engineA)}\"", File.ReadLines(LogPath).First());

        // Changed kernels: refused, even on the same card or with --resume-on-another-card, and the message says why.
        var (_, _, runnerB, _) = Machine();
        var e = Assert.Throws<CalibrationException>(() => runnerB.Run(Plan() with { ExtraMetadata = engineB }, LogPath, false, null, default));
        Assert.Contains("engine", e.Message);
        Assert.Contains("kernels or options changed", e.Message);
        Assert.Throws<CalibrationException>(() => runnerB.Run(Plan() with { ExtraMetadata = engineB }, LogPath, false, null, default, resumeOnAnotherCard: true));

        // The same engine resumes; only the provenance's engine.* entries count (the NCCL version of a host may differ).
        var (_, workC, runnerC, _) = Machine();
        var result = runnerC.Run(Plan() with { ExtraMetadata = new Dictionary<string, string>(engineA) { ["nccl.version"] = "2.99" } }, LogPath, false, null, default);
        Assert.Equal(Plan().Grid.Points.Count - 2, workC.Prepared.Count);
        Assert.Equal(Plan().Grid.Points.Count, result.Profile.Points.Count(p => p.Phase != ProfilePhase.Idle));
    }

    [Fact]
    public void ALogWithoutAnEngineFingerprintStillResumes()
    {
        // Logs written before the fingerprint existed (and test workloads, which have no engine) cannot be checked: resumed as before.
        var (_, work, runner, _) = Machine();
        using var cts = new CancellationTokenSource();
        var prepared = 0;
        work.OnEnqueue = _ => { if (work.Prepared.Count == 3 && ++prepared == 3) cts.Cancel(); };
        Assert.ThrowsAny<OperationCanceledException>(() => runner.Run(Plan(), LogPath, false, null, cts.Token));
        Assert.DoesNotContain("\"engine\"", File.ReadLines(LogPath).First());
        var (_, _, runnerB, _) = Machine();
        var engine = new Dictionary<string, string> { ["engine.kernels_sha256"] = "cccc" };
        var result = runnerB.Run(Plan() with { ExtraMetadata = engine }, LogPath, false, null, default);
        Assert.Equal(Plan().Grid.Points.Count, result.Profile.Points.Count(p => p.Phase != ProfilePhase.Idle));
        Assert.Equal("", RawLogHeader.EngineFingerprint(new Dictionary<string, string> { ["nccl.version"] = "2.2" }));
    }

    [Fact]
    public void ALogResumedOnAnotherCardKeepsEachPointsCardAndIsRefusedUnlessAsked()
    {
        var (gpuA, work, runner, _) = Machine();
        gpuA.Uuid = "GPU-card-a";
        using var cts = new CancellationTokenSource();
        var prepared = 0;
        work.OnEnqueue = _ => { if (work.Prepared.Count == 5 && ++prepared == 3) cts.Cancel(); };
        Assert.ThrowsAny<OperationCanceledException>(() => runner.Run(Plan(), LogPath, false, null, cts.Token));

        // The next lease lands on another card of the same model: refused, and the message names the way on.
        var (gpuB, workB, runnerB, progressB) = Machine();
        gpuB.Uuid = "GPU-card-b";
        var e = Assert.Throws<CalibrationException>(() => runnerB.Run(Plan(), LogPath, false, null, default));
        Assert.Contains("GPU-card-a", e.Message);
        Assert.Contains("--resume-on-another-card", e.Message);

        var result = runnerB.Run(Plan(), LogPath, false, null, default, resumeOnAnotherCard: true);
        var total = Plan().Grid.Points.Count;
        Assert.Equal(total - 4, workB.Prepared.Count);
        Assert.Contains("another card", progressB.ToString());
        Assert.Contains("idle on this card", progressB.ToString());
        Assert.Equal(total, result.Profile.Points.Count(p => p.Phase != ProfilePhase.Idle));

        // The profile is the first card's (it measured idle) and says which points the second measured.
        var meta = result.Profile.Metadata;
        Assert.Equal("GPU-card-a", meta.GpuUuid);
        Assert.Equal($"GPU-card-a: 5 point(s); GPU-card-b: {total - 4} point(s)", meta.Extra[ProfileBuilder.CardsKey]);
        var onB = System.Text.Json.JsonSerializer.Deserialize<Dictionary<string, string>>(meta.Extra[ProfileBuilder.PointCardsKey])!;
        Assert.Equal(total - 4, onB.Count);
        Assert.All(onB.Values, u => Assert.Equal("GPU-card-b", u));

        // Read back, every point carries its card: four and idle on A, the rest on B, and B's idle is on record.
        var (_, points, _) = RawLog.ReadAll(LogPath);
        Assert.Equal(5, points.Count(p => p.GpuUuid == "GPU-card-a"));
        Assert.Equal(total - 4, points.Count(p => p.GpuUuid == "GPU-card-b"));
        Assert.Single(File.ReadLines(LogPath), l => l.Contains("\"card_idle\"") && l.Contains("GPU-card-b"));

        // The cards survive the profile file's round trip and show in `profile show`'s summary.
        var file = Path.Combine(_dir, "profile.parquet");
        result.Profile.Save(file);
        var summary = ProfileSummary.Create(MeasuredProfile.Load(file), file);
        Assert.Contains("GPU-card-b", summary.Gpu.Cards);

        // A run on one card only writes no card keys.
        var single = Path.Combine(_dir, "single.jsonl");
        var (_, _, runnerC, _) = Machine();
        var plain = runnerC.Run(Plan(), single, false, null, default);
        Assert.False(plain.Profile.Metadata.Extra.ContainsKey(ProfileBuilder.CardsKey));
    }

    [Fact]
    public void AMismatchedLogIsAnErrorUnlessForced()
    {
        var mixed = CalibrationGrid.Quick(CalibrationGrid.ParsePhases("mixed"));
        var (_, _, runner, _) = Machine();
        runner.Run(Plan() with { Grid = mixed }, LogPath, false, null, default);

        var (_, _, runner2, _) = Machine();
        var e = Assert.Throws<CalibrationException>(() => runner2.Run(Plan("llama-3.2-1b") with { Grid = mixed }, LogPath, false, null, default));
        Assert.Contains("model llama-3.1-8b vs llama-3.2-1b", e.Message);
        Assert.Contains("--force", e.Message);
        var e2 = Assert.Throws<CalibrationException>(() => runner2.Run(Plan(), LogPath, false, null, default));
        Assert.Contains("grid", e2.Message);

        var (gpu3, work3, runner3, _) = Machine();
        var result = runner3.Run(Plan("llama-3.2-1b") with { Grid = mixed }, LogPath, true, null, default);
        Assert.Equal(2, work3.Prepared.Count);
        Assert.Equal("llama-3.2-1b", result.Profile.Metadata.Model.Name);
        Assert.Single(Directory.GetFiles(_dir, "raw.jsonl.*.bak"));
    }

    [Fact]
    public void AClockSweepLocksEachClockAndAlwaysRestores()
    {
        var decode = CalibrationGrid.Quick(CalibrationGrid.ParsePhases("decode"));
        var (_, _, runner, progress) = Machine();
        var control = new FakeClockControl();
        var result = runner.Run(Plan(clocks: [1200, 1500]) with { Grid = decode }, LogPath, false, control, default);
        Assert.Equal(["lock 1200-1200", "reset", "lock 1500-1500", "reset"], control.Calls);
        Assert.Equal(2 * decode.Points.Count, result.Profile.Points.Count(p => p.Phase == ProfilePhase.Decode));
        Assert.Equal([1200, 1500], result.Profile.ClockTargets.Select(c => c!.Value));
        Assert.Contains("restored", progress.ToString());
        Assert.Equal(2, new[] { 1200, 1500 }.Count(c => new ProfileCostModel(result.Profile, smClockTarget: c).Points.Count == decode.Points.Count));
    }

    [Fact]
    public void AClockSweepRestoresAfterAnErrorAndAfterCancellation()
    {
        var decode = CalibrationGrid.Quick(CalibrationGrid.ParsePhases("decode"));
        var (_, work, runner, _) = Machine();
        var control = new FakeClockControl();
        work.OnEnqueue = _ => { if (work.Prepared.Count == 3) throw new InvalidOperationException("CUDA_ERROR_LAUNCH_FAILED"); };
        Assert.Throws<InvalidOperationException>(() => runner.Run(Plan(clocks: [1200]) with { Grid = decode }, LogPath, false, control, default));
        Assert.Equal(["lock 1200-1200", "reset"], control.Calls);
        Assert.False(control.IsLocked);

        var (_, work2, runner2, _) = Machine();
        var control2 = new FakeClockControl();
        using var cts = new CancellationTokenSource();
        work2.OnEnqueue = _ => { if (work2.Prepared.Count == 2) cts.Cancel(); };
        Assert.ThrowsAny<OperationCanceledException>(() => runner2.Run(Plan(clocks: [1200]) with { Grid = decode }, LogPath, false, control2, cts.Token));
        Assert.Equal(["lock 1200-1200", "reset"], control2.Calls);
    }

    [Fact]
    public void AClockSweepWithoutClockControlIsRefused()
    {
        var (_, _, runner, _) = Machine();
        Assert.Throws<CalibrationException>(() => runner.Run(Plan(clocks: [1200]), LogPath, false, null, default));
    }
}
