using Joules.Calibration.Measurement;
using Xunit;

namespace Joules.Calibration.Tests;

public class MeasurementClockSweepTests
{
    [Fact]
    public void ClocksAreRestoredAfterSuccess()
    {
        var control = new FakeClockControl();
        using var guard = new ClockGuard(control);
        Assert.Equal(42, guard.WithLockedSmClock(1500, () => { Assert.True(control.IsLocked); return 42; }));
        Assert.Equal(["lock 1500-1500", "reset"], control.Calls);
        Assert.False(guard.Locked);
    }

    [Fact]
    public void ClocksAreRestoredAfterAnException()
    {
        var control = new FakeClockControl();
        using var guard = new ClockGuard(control);
        Assert.Throws<InvalidOperationException>(() => guard.WithLockedSmClock<int>(1200, () => throw new InvalidOperationException("kernel failed")));
        Assert.Equal(["lock 1200-1200", "reset"], control.Calls);
    }

    [Fact]
    public void ClocksAreRestoredAfterCancellation()
    {
        var control = new FakeClockControl();
        using var guard = new ClockGuard(control);
        using var cts = new CancellationTokenSource();
        Assert.ThrowsAny<OperationCanceledException>(() => guard.WithLockedSmClock(1200, () =>
        {
            cts.Cancel(); // what the CLI's SIGINT handler does on Ctrl-C
            cts.Token.ThrowIfCancellationRequested();
            return 0;
        }));
        Assert.Equal(["lock 1200-1200", "reset"], control.Calls);
    }

    [Fact]
    public void AFailedLockIsStillReset()
    {
        var control = new FakeClockControl { FailLock = true };
        using var guard = new ClockGuard(control);
        Assert.Throws<InvalidOperationException>(() => guard.WithLockedSmClock(1200, () => 0));
        Assert.Equal(["lock 1200-1200", "reset"], control.Calls);
    }

    [Fact]
    public void DisposeRestoresOnlyWhatItLocked()
    {
        var control = new FakeClockControl();
        new ClockGuard(control).Dispose();
        Assert.Empty(control.Calls);
    }

    [Fact]
    public void ClockChangesNeedExplicitPermission()
    {
        var e = Assert.Throws<CalibrationException>(() => ClockGuard.RequirePermission([1200], allowClockChanges: false));
        Assert.Contains("--allow-clock-changes", e.Message);
        ClockGuard.RequirePermission([1200], allowClockChanges: true);
        ClockGuard.RequirePermission([], allowClockChanges: false);
    }
}
