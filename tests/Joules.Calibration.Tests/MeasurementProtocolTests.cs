using FsCheck;
using FsCheck.Fluent;
using Joules.Calibration.Measurement;
using Joules.Profiles;
using Joules.Profiles.Measured;
using Xunit;

namespace Joules.Calibration.Tests;

public class MeasurementProtocolTests
{
    private static readonly MeasurementOptions Deterministic = MeasurementOptions.Default with { BackgroundSampling = false };

    [Fact]
    public void EnergyDeltaIsCorrectAcrossTheCounterWrap()
    {
        Prop.ForAll(Arb.From(ArbMap.Default.GeneratorFor<ulong>()), Arb.From(Gen.Choose(0, int.MaxValue)), (start, delta) =>
            EnergyCounter.DeltaMillijoules(start, unchecked(start + (ulong)delta)) == (ulong)delta).QuickCheckThrowOnFailure();
        Assert.Equal(15UL, EnergyCounter.DeltaMillijoules(ulong.MaxValue - 4, 10));
    }

    [Fact]
    public void ShortWindowsAliasButProtocolWindowsDoNot()
    {
        var gpu = new FakeGpu();
        var work = new FakeWorkload(gpu, _ => (0.010, 400)); // 10 ms iterations at 400 W: 4 J each
        work.Prepare(IterationComposition.Decode(1, 100));

        // Naive: read, run 3 iterations (30 ms), read. The counter moves in 100 ms steps: 0 or a whole step.
        var errors = new List<double>();
        for (var i = 0; i < 20; i++)
        {
            var e0 = gpu.TotalEnergyMillijoules();
            work.Enqueue(3);
            work.Synchronize();
            var e1 = gpu.TotalEnergyMillijoules();
            errors.Add(Math.Abs(EnergyCounter.DeltaMillijoules(e0, e1) / 1000.0 / 3 - 4) / 4);
            gpu.Sleep(TimeSpan.FromMilliseconds(7), default);
        }
        Assert.True(errors.Max() > 0.5, $"short windows should alias, worst error {errors.Max():P0}");

        var protocol = new MeasurementProtocol(gpu, gpu, Deterministic);
        protocol.MeasureIdle(default);
        var r = protocol.MeasurePoint(new CalibrationPoint(Phase.Decode, 1, 1, 100), null, work, default);
        Assert.Equal(0.010, r.SecondsPerIteration, 1e-9);
        Assert.True(Math.Abs(r.JoulesPerIteration / 4 - 1) < 0.002, $"protocol energy {r.JoulesPerIteration} J vs 4 J");
        Assert.Equal(400, r.MeanPowerWatts, 1.0);
    }

    [Fact]
    public void ProtocolIsAccurateForAnyIterationTimeAndCounterStart()
    {
        Prop.ForAll(Arb.From(Gen.Choose(1, 5000)), Arb.From(ArbMap.Default.GeneratorFor<ulong>()), (tenthsOfMs, start) =>
        {
            var seconds = tenthsOfMs / 10000.0;
            var gpu = new FakeGpu(counterStartMillijoules: start);
            var work = new FakeWorkload(gpu, _ => (seconds, 550));
            work.Prepare(IterationComposition.Prefill(1, 128));
            var protocol = new MeasurementProtocol(gpu, gpu, MeasurementOptions.Quick with { BackgroundSampling = false });
            protocol.IdleWatts = gpu.IdleWatts;
            var r = protocol.MeasurePoint(new CalibrationPoint(Phase.Prefill, 1, 128, 0), null, work, default);
            var windowsLongEnough = r.Trials.All(t => t.Seconds >= protocol.Options.WindowSeconds - 1e-9);
            var energyError = Math.Abs(r.JoulesPerIteration / (550 * seconds) - 1);
            return windowsLongEnough && energyError < 0.005 && r.Trials.Count == 3;
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void IdlePowerIsMeasuredOnItsOwn()
    {
        var gpu = new FakeGpu(idleWatts: 63.5);
        var protocol = new MeasurementProtocol(gpu, gpu, Deterministic);
        var idle = protocol.MeasureIdle(default);
        Assert.Equal(63.5, idle.MeanPowerWatts, 0.5);
        Assert.Equal(63.5, protocol.IdleWatts, 0.5);
        Assert.Equal(Deterministic.IdleTrials, idle.Trials.Count);
        Assert.Equal(Phase.Idle, idle.Point.Phase);
    }

    [Fact]
    public void TrialsGiveMedianAndSpread()
    {
        var gpu = new FakeGpu();
        var work = new FakeWorkload(gpu, _ => (0.02, 500)) { Jitter = 0.05 };
        work.Prepare(IterationComposition.Decode(8, 512));
        var protocol = new MeasurementProtocol(gpu, gpu, Deterministic);
        protocol.IdleWatts = 70;
        var r = protocol.MeasurePoint(new CalibrationPoint(Phase.Decode, 8, 1, 512), null, work, default);
        Assert.Equal(5, r.Trials.Count);
        Assert.Equal(5, r.Repeats);
        Assert.InRange(r.SecondsPerIteration, 0.019, 0.021);
        Assert.True(r.CvTime > 0 && r.CvTime < 0.05);
        Assert.Equal(Statistics.Median(r.Trials.Select(t => t.SecondsPerIteration).ToArray()), r.SecondsPerIteration);
    }

    [Fact]
    public void ClockEventReasonsSampledDuringWindowsAreKept()
    {
        var gpu = new FakeGpu { BusyReasons = (ulong)ThrottleReasonBits.SwPowerCap, BusySmClock = 1500 };
        // The window's busy part takes real time too, so the background sampler sees the GPU busy.
        var work = new FakeWorkload(gpu, _ => (0.05, 690)) { OnEnqueue = _ => { } };
        work.Prepare(IterationComposition.Prefill(4, 2048));
        var slow = new SlowWorkload(work, TimeSpan.FromMilliseconds(40));
        var options = MeasurementOptions.Quick with { Trials = 2, WarmupSeconds = 0, WarmupMinIterations = 1, SampleInterval = TimeSpan.FromMilliseconds(2) };
        var protocol = new MeasurementProtocol(gpu, gpu, options) { IdleWatts = 70 };
        var r = protocol.MeasurePoint(new CalibrationPoint(Phase.Prefill, 4, 2048, 0), null, slow, default);
        Assert.NotEqual(0UL, r.ClockEventReasons & (ulong)ThrottleReasonBits.SwPowerCap);
        Assert.Equal(61, r.TemperatureC);
        var profilePoint = ProfileBuilder.ToProfilePoint(r, 1);
        Assert.True(profilePoint.Throttled);
    }

    private sealed class SlowWorkload(FakeWorkload inner, TimeSpan realTime) : IIterationWorkload
    {
        public bool Fits(IterationComposition c, out string? reason) => inner.Fits(c, out reason);
        public void Prepare(IterationComposition c) => inner.Prepare(c);
        public void Enqueue(int iterations) { inner.Enqueue(iterations); Thread.Sleep(realTime); }
        public void Synchronize() => inner.Synchronize();
        public void Dispose() => inner.Dispose();
    }

    [Fact]
    public void BackgroundSamplerReadsWhileTheWindowRuns()
    {
        var gpu = new FakeGpu { BusyReasons = (ulong)ThrottleReasonBits.HwThermalSlowdown };
        gpu.Run(0.001, 650); // busy from here on
        var sampler = new TelemetrySampler(gpu, TimeSpan.FromMilliseconds(5), background: true);
        sampler.Start();
        Thread.Sleep(60);
        var s = sampler.Stop();
        Assert.True(s.Samples > 2, $"{s.Samples} samples");
        Assert.Equal((ulong)ThrottleReasonBits.HwThermalSlowdown, s.ClockEventReasons);
    }

    [Fact]
    public void CancellationStopsAMeasurement()
    {
        var gpu = new FakeGpu();
        using var cts = new CancellationTokenSource();
        var work = new FakeWorkload(gpu, _ => (0.01, 400));
        work.Prepare(IterationComposition.Decode(1, 100));
        var calls = 0;
        work.OnEnqueue = _ => { if (++calls == 6) cts.Cancel(); };
        var protocol = new MeasurementProtocol(gpu, gpu, Deterministic);
        Assert.ThrowsAny<OperationCanceledException>(() => protocol.MeasurePoint(new CalibrationPoint(Phase.Decode, 1, 1, 100), null, work, cts.Token));
    }

    [Fact]
    public void WarmUpRunsAtLeastTheConfiguredTime()
    {
        var gpu = new FakeGpu();
        var work = new FakeWorkload(gpu, _ => (0.003, 400));
        work.Prepare(IterationComposition.Decode(1, 100));
        var protocol = new MeasurementProtocol(gpu, gpu, Deterministic);
        var t0 = gpu.Now;
        var per = protocol.WarmUp(work, default);
        Assert.True(gpu.Now - t0 >= Deterministic.WarmupSeconds);
        Assert.Equal(0.003, per, 1e-9);
        Assert.Equal((int)Math.Ceiling(Deterministic.WindowSeconds / 0.003), protocol.IterationsPerWindow(per));
    }
}
