using System.Text.Json.Nodes;
using Joules.Calibration.Collectives;
using Joules.Calibration.Measurement;
using Joules.Profiles;
using Joules.Profiles.Measured;
using Xunit;

namespace Joules.Calibration.Tests;

/// <summary>Several fake GPUs on one virtual clock (each with its own counter phase and idle power), and a workload that keeps them all busy.</summary>
public sealed class FakeInstance : IMeasurementClock, IIterationWorkload
{
    private IterationComposition? _prepared;

    public FakeInstance(params FakeGpu[] gpus) => Gpus = gpus;

    public FakeGpu[] Gpus { get; }
    /// <summary>Busy power of each GPU.</summary>
    public double[] BusyWatts { get; init; } = [400, 300];
    public double SecondsPerToken { get; init; } = 2e-5;
    public List<IterationComposition> Prepared { get; } = [];

    public double Now => Gpus[0].Now;
    public void Sleep(TimeSpan d, CancellationToken c) { c.ThrowIfCancellationRequested(); foreach (var g in Gpus) g.Run(d.TotalSeconds, g.IdleWatts); }
    public bool Fits(IterationComposition c, out string? reason) { reason = null; return true; }
    public void Prepare(IterationComposition c) { _prepared = c; Prepared.Add(c); }
    public double Seconds(IterationComposition c) => Math.Max(0.004, SecondsPerToken * c.Shape.TotalTokens);

    public void Enqueue(int iterations)
    {
        var t = iterations * Seconds(_prepared!);
        for (var i = 0; i < Gpus.Length; i++) Gpus[i].Run(t, BusyWatts[i]);
    }

    public void Synchronize() { foreach (var g in Gpus) g.GoIdle(); }
    public void Dispose() { }
}

public class MultiGpuMeasurementTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("joules-multi-").FullName;
    private static readonly MeasurementOptions Fast = MeasurementOptions.Quick with
    {
        BackgroundSampling = false, Trials = 3, WindowSeconds = 1.0, SettleSeconds = 0.1, SettleMaxSeconds = 0.3, IdleWindowSeconds = 1.0, IdleTrials = 2,
    };

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static FakeInstance TwoGpus() => new(
        new FakeGpu(idleWatts: 70, phase: 0.037) { Uuid = "GPU-fake-a" },
        new FakeGpu(idleWatts: 60, phase: 0.081, counterStartMillijoules: 987_654_321) { Uuid = "GPU-fake-b" });

    [Fact]
    public void AWindowOverTwoGpusSumsTheirEnergyAndKeepsEachShare()
    {
        var inst = TwoGpus();
        var protocol = new MeasurementProtocol(inst.Gpus, inst, Fast);
        var idle = protocol.MeasureIdle(default);
        Assert.Equal(130, idle.MeanPowerWatts, 0.5);
        Assert.Equal(70, protocol.IdleWattsPerGpu[0], 0.5);
        Assert.Equal(60, protocol.IdleWattsPerGpu[1], 0.5);

        var c = IterationComposition.Decode(64, 1024);
        inst.Prepare(c);
        var true0 = inst.Gpus.Select(g => g.TrueEnergyJoules).ToArray();
        var trial = protocol.MeasureWindow(inst, 200, default);
        Assert.Equal(2, trial.Gpus.Count);
        Assert.Equal(["GPU-fake-a", "GPU-fake-b"], trial.Gpus.Select(g => g.Uuid));
        var work = 200 * inst.Seconds(c);
        // Each GPU's counter is read just after its own update, and its gaps are charged at its own idle power.
        Assert.Equal(400 * work, trial.Gpus[0].EnergyJoules, 400 * work * 0.005);
        Assert.Equal(300 * work, trial.Gpus[1].EnergyJoules, 300 * work * 0.005);
        Assert.Equal(trial.Gpus.Sum(g => g.EnergyJoules), trial.EnergyJoules, 1e-9);
        // The counters themselves saw the work plus the gaps.
        var counted = inst.Gpus.Select((g, i) => g.TrueEnergyJoules - true0[i]).ToArray();
        Assert.True(trial.Gpus[0].CounterJoules <= counted[0] + 1e-6 && trial.Gpus[1].CounterJoules <= counted[1] + 1e-6);
    }

    [Fact]
    public void AWholeInstanceCalibrationLogsEveryGpuAndStoresThePerGpuShareInTheProfile()
    {
        var inst = TwoGpus();
        var plan = new CalibrationPlan
        {
            Model = Catalog.Model("llama-3.1-70b"), Tp = 2, WholeInstance = true, Grid = new CalibrationGrid("two", [new(Phase.Decode, 64, 1, 1024), new(Phase.Prefill, 1, 512, 0)]),
            ExtraMetadata = new Dictionary<string, string> { ["nccl.version"] = "2.27.3" }, ToolVersion = "test", Command = "joules calibrate --tp 2 --gpus 2",
        };
        var log = Path.Combine(_dir, "raw.jsonl");
        var runner = new CalibrationRunner(inst.Gpus, inst, inst, Fast, new StringWriter());
        var result = runner.Run(plan, log, force: false, clockControl: null, default);
        var m = result.Profile.Metadata;
        Assert.Equal("instance", m.Extra[ProfileBuilder.ModeKey]);
        Assert.Equal("2", m.Extra[ProfileBuilder.GpusKey]);
        Assert.Equal("GPU-fake-a,GPU-fake-b", m.Extra[ProfileBuilder.UuidsKey]);
        Assert.Equal("2.27.3", m.Extra["nccl.version"]);
        Assert.Equal(65, m.IdlePowerWatts, 0.5);                                   // per GPU: (70 + 60) / 2

        var decode = result.Profile.Points.Single(p => p.Phase == ProfilePhase.Decode);
        var t = inst.Seconds(IterationComposition.Decode(64, 1024));
        Assert.Equal(t, decode.IterationSeconds, t * 1e-6);
        Assert.Equal((400 + 300) * t / 2, decode.EnergyJoules, 350 * t * 0.01);  // the mean GPU's share of the summed energy

        // The raw log keeps every GPU's own figures, and the whole-instance header.
        var lines = File.ReadAllLines(log).Select(l => JsonNode.Parse(l)!.AsObject()).ToArray();
        Assert.Equal(true, (bool?)lines[0]["whole_instance"]);
        Assert.Equal(2, lines[0]["gpu_uuids"]!.AsArray().Count);
        var trial = lines.First(l => (string?)l["type"] == "trial" && ((string)l["key"]!).StartsWith("decode"));
        var per = trial["per_gpu"]!.AsArray();
        Assert.Equal((double)trial["energy_j"]!, per.Sum(g => (double)g!["energy_j"]!), 1e-9);
        var (header, points, _) = RawLog.ReadAll(log);
        Assert.True(header!.WholeInstance);
        Assert.Equal(2, points.Single(p => p.Point.Phase == Phase.Idle).PerGpu.Count);

        // Resuming with the same GPUs picks up each GPU's idle power; a one-GPU run of the same model and tp does not resume it.
        var again = new CalibrationRunner(inst.Gpus, inst, inst, Fast, new StringWriter());
        var resumed = again.Run(plan, log, force: false, clockControl: null, default);
        Assert.Equal(0, resumed.Measured);
        Assert.Equal(70, again.Protocol.IdleWattsPerGpu[0], 0.5);
        var single = new CalibrationRunner(inst.Gpus[0], inst, inst, Fast, new StringWriter());
        var e = Assert.Throws<CalibrationException>(() => single.Run(plan with { WholeInstance = false }, log, force: false, clockControl: null, default));
        Assert.Contains("one GPU", e.Message);
    }

    [Fact]
    public void InstancesOfMixedGpuTypesAreRefused()
    {
        var a = new FakeGpu();
        var b = new MixedGpu();
        Assert.Throws<CalibrationException>(() => new CalibrationRunner([a, b], new FakeInstance(a), new FakeInstance(a), Fast, new StringWriter()));
    }

    private sealed class MixedGpu : IGpuTelemetry
    {
        public string Name => "NVIDIA A100-SXM4-80GB";
        public string Uuid => "GPU-other";
        public string DriverVersion => "1";
        public string CudaVersion => "1";
        public double PowerLimitWatts => 400;
        public ulong TotalEnergyMillijoules() => 0;
        public double PowerWatts() => 50;
        public uint SmClockMHz() => 1;
        public uint MemoryClockMHz() => 1;
        public uint TemperatureC() => 30;
        public ulong ClockEventReasons() => 0;
    }

    [Fact]
    public void AllReduceBenchWritesATableTheProfilesLoaderReadsBack()
    {
        var opened = new List<int>();
        var plan = new AllReduceBenchPlan
        {
            Model = Catalog.Model("llama-3.1-70b"), RankCounts = [2, 1], Tokens = [1, 64, 2048], Options = Fast, ToolVersion = "test", Command = "joules gpu allreduce-bench",
        };
        FakeInstance? last = null;
        var table = AllReduceBench.Run(plan, n =>
        {
            opened.Add(n);
            last = n == 1 ? new FakeInstance(new FakeGpu(70) { Uuid = "GPU-fake-a" }) { BusyWatts = [200], SecondsPerToken = 1e-7 }
                          : TwoGpus();
            return new CalibrationHardware(last.Gpus, last) { Provenance = new Dictionary<string, string> { ["nccl.version"] = "2.27.3" } };
        }, new ForwardClock(() => last!), new StringWriter(), default);
        Assert.Equal([1, 2], opened);
        Assert.Equal(6, table.Results.Count);
        Assert.Equal(161, table.CallsPerIteration);
        var row = table.Results.Single(r => r.Ranks == 2 && r.Tokens == 64);
        Assert.Equal(64L * 8192 * 2, row.Bytes);
        Assert.Equal(row.Bytes / row.Seconds / 1e9, row.AlgorithmBandwidthGBs, 1e-6);
        Assert.Equal(row.AlgorithmBandwidthGBs, row.BusBandwidthGBs, 1e-9);                 // 2(n-1)/n = 1 for two GPUs
        Assert.Equal(2, row.PerGpuJoules.Count);
        Assert.Equal(row.Joules, row.PerGpuJoules.Sum(), row.Joules * 1e-9);
        Assert.Equal(0, table.Results.Single(r => r.Ranks == 1 && r.Tokens == 1).BusBandwidthGBs);

        var path = Path.Combine(_dir, "allreduce.json");
        table.Save(path);
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp"));
        Assert.Empty(Directory.GetFiles(_dir, "*" + Joules.Output.AtomicFile.PartialMarker + "*"));
        var back = AllReduceProfile.Load(path);
        Assert.Equal(table.Results, back.Results, new RowComparer());
        Assert.Equal(["GPU-fake-a", "GPU-fake-b"], back.GpuUuids);
        Assert.Equal("2.27.3", back.NcclVersion);
        Assert.Equal([1, 2], back.RankCounts);
        // Lookups: exact at measured sizes, between them in log-log, proportional beyond the largest, the floor below the smallest.
        Assert.Equal(row.Seconds, back.Seconds(2, row.Bytes), 1e-15);
        var big = back.Results.Single(r => r.Ranks == 2 && r.Tokens == 2048);
        Assert.Equal(big.Seconds * 2, back.Seconds(2, big.Bytes * 2), 1e-12);
        var mid = back.Seconds(2, 512L * 8192 * 2);
        Assert.InRange(mid, row.Seconds, big.Seconds);
        Assert.Equal(back.Results.Single(r => r.Ranks == 2 && r.Tokens == 1).Seconds, back.Seconds(2, 10), 1e-15);
        Assert.Contains("over 4 GPU(s)", Assert.Throws<KeyNotFoundException>(() => back.Seconds(4, 100)).Message);
    }

    private sealed class ForwardClock(Func<FakeInstance> current) : IMeasurementClock
    {
        public double Now => current().Now;
        public void Sleep(TimeSpan d, CancellationToken c) => current().Sleep(d, c);
    }

    private sealed class RowComparer : IEqualityComparer<AllReduceMeasurement>
    {
        public bool Equals(AllReduceMeasurement? a, AllReduceMeasurement? b) =>
            a!.Ranks == b!.Ranks && a.Tokens == b.Tokens && a.Bytes == b.Bytes && a.Seconds == b.Seconds && a.Joules == b.Joules && a.Repeats == b.Repeats
            && a.PerGpuJoules.SequenceEqual(b.PerGpuJoules) && a.BusBandwidthGBs == b.BusBandwidthGBs && a.IdlePowerWatts == b.IdlePowerWatts;
        public int GetHashCode(AllReduceMeasurement r) => r.Tokens.GetHashCode();
    }

    [Fact]
    public void BadAllReduceTablesNameTheFileAndField()
    {
        var path = Path.Combine(_dir, "bad.json");
        File.WriteAllText(path, """{"format":"joules-allreduce","format_version":1,"gpu_name":"NVIDIA H200","results":[{"ranks":2,"tokens":1,"bytes":16384,"time_s":"soon"}]}""");
        var e = Assert.Throws<InvalidDataException>(() => AllReduceProfile.Load(path));
        Assert.Contains("bad.json: results[0]: 'time_s' must be a number", e.Message);
        File.WriteAllText(path, """{"format":"joules-allreduce","format_version":9,"gpu_name":"x","results":[]}""");
        Assert.Contains("newer", Assert.Throws<InvalidDataException>(() => AllReduceProfile.Load(path)).Message);
        File.WriteAllText(path, "{");
        Assert.Contains("not valid JSON", Assert.Throws<InvalidDataException>(() => AllReduceProfile.Load(path)).Message);
    }

    [Fact]
    public void TheBenchmarkMeasuresTheSizesTheGridAllReduces()
    {
        var tokens = AllReduceBenchPlan.GridTokens(CalibrationGrid.Default());
        Assert.Equal([1L, 8, 32, 64, 128, 256, 288, 384, 512, 544, 1024, 1032, 2048, 2064, 2112, 4096, 4112, 8192, 16384, 32768], tokens);
        Assert.Equal([1], AllReduceBenchPlan.DefaultRankCounts(1));
        Assert.Equal([2, 4, 8], AllReduceBenchPlan.DefaultRankCounts(8));
        Assert.Equal([2, 4, 6], AllReduceBenchPlan.DefaultRankCounts(6));
        Assert.Equal([2, 4], AllReduceBenchPlan.ParseRankCounts("2, 4,2", 4));
        Assert.Contains("needs 8 GPUs, but this machine has 4", Assert.Throws<CalibrationException>(() => AllReduceBenchPlan.ParseRankCounts("8", 4)).Message);
        Assert.Contains("--ranks: 'two'", Assert.Throws<ArgumentException>(() => AllReduceBenchPlan.ParseRankCounts("two", 4)).Message);
        Assert.Contains("--tokens: '0'", Assert.Throws<ArgumentException>(() => AllReduceBenchPlan.ParseTokens("64,0")).Message);
        Assert.Equal([1L, 64], AllReduceBenchPlan.ParseTokens("64,1"));
    }
}
