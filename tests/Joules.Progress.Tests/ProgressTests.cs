using Xunit;

namespace Joules.Progress.Tests;

/// <summary>Time that moves only when the test says so; its timers never fire (tests draw by hand).</summary>
internal sealed class ManualTime : TimeProvider
{
    private long _ticks;
    public void Advance(TimeSpan t) => _ticks += t.Ticks;
    public override long GetTimestamp() => _ticks;
    public override long TimestampFrequency => TimeSpan.TicksPerSecond;
    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) => new NoTimer();

    private sealed class NoTimer : ITimer
    {
        public bool Change(TimeSpan dueTime, TimeSpan period) => true;
        public void Dispose() { }
        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}

public class ProgressTests
{
    [Fact]
    public void PercentAndEtaFollowTheMeanRate()
    {
        var text = ProgressText.Describe("importing", 250, 1000, ProgressUnit.Rows, null, TimeSpan.FromSeconds(10));
        Assert.Equal("importing  25% (250 of 1,000 rows)  0:10 elapsed, about 0:30 left", text);
    }

    [Fact]
    public void BytesShowMegabytesAndTheRowCount()
    {
        var text = ProgressText.Describe("importing conv.csv", 48_200_000, 108_000_000, ProgressUnit.Bytes, 1_234_567, TimeSpan.FromSeconds(12));
        Assert.StartsWith("importing conv.csv  44% (48.2 of 108.0 MB, 1,234,567 rows)  0:12 elapsed, about 0:15 left", text);
    }

    [Fact]
    public void AnEstimatedTotalThatIsExceededNeverClaimsAHundredPercent()
    {
        Assert.Contains("99%", ProgressText.Describe("generating", 1_200, 1_000, ProgressUnit.Rows, null, TimeSpan.FromSeconds(1)));
        Assert.DoesNotContain("%", ProgressText.Describe("writing", 5, null, ProgressUnit.Rows, null, TimeSpan.FromSeconds(1)));
        Assert.Equal("1:01:05", ProgressText.Clock(TimeSpan.FromSeconds(3665)));
        Assert.Null(ProgressText.Remaining(0, 10, TimeSpan.FromSeconds(3)));
    }

    [Fact]
    public void LineModePrintsPlainLinesAndAClosingLineOnlyForStagesThatPrinted()
    {
        var time = new ManualTime();
        var w = new StringWriter();
        using (var p = new ProgressReporter(w, ProgressStyle.Lines, time: time))
        {
            p.Begin("quick", 10);
            p.Report(10);
            p.End(); // drew nothing: a short stage stays silent
            Assert.Equal("", w.ToString());

            p.Begin("reading", 100);
            time.Advance(TimeSpan.FromSeconds(5));
            p.Report(50);
            p.Render();
            time.Advance(TimeSpan.FromSeconds(5));
            p.Report(100);
            p.Begin("writing", null);
        }
        var lines = w.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')).ToArray();
        Assert.Equal(["reading  50% (50 of 100 rows)  0:05 elapsed, about 0:05 left", "reading  done (100 of 100 rows) in 0:10"], lines);
        Assert.DoesNotContain('\x1b', w.ToString());
    }

    [Fact]
    public void TerminalModeRedrawsOneLineAndClearsItAtTheEnd()
    {
        var time = new ManualTime();
        var w = new StringWriter();
        var p = new ProgressReporter(w, ProgressStyle.Terminal, time: time);
        p.Begin("generating", 1000);
        time.Advance(TimeSpan.FromSeconds(2));
        p.Report(500);
        p.Render();
        p.Report(900);
        p.Render();
        p.Dispose();
        var s = w.ToString();
        Assert.DoesNotContain('\n', s);
        Assert.Contains("\rgenerating  50%", s);
        Assert.Contains("\rgenerating  90%", s);
        Assert.EndsWith("\r", s); // cleared
        Assert.DoesNotContain("?25l", s); // the cursor is never hidden
    }

    [Fact]
    public void OffDrawsNothingAndReportsFromManyThreadsAreSafe()
    {
        var w = new StringWriter();
        using var p = new ProgressReporter(w, ProgressStyle.Off);
        p.Begin("x", 1_000_000);
        Parallel.For(0, 1000, i => ((IProgress<long>)p).Report(i));
        p.Render();
        p.End();
        Assert.Equal("", w.ToString());
        Assert.Equal(ProgressStyle.Lines, ProgressReporter.StyleFor(new StringWriter()));
        Assert.Equal(ProgressStyle.Off, ProgressReporter.StyleFor(Console.Error, enabled: false));
    }
}

public class TrackTests
{
    [Fact]
    public void TrackCountsEveryItemOfSeveralStreams()
    {
        var time = new ManualTime();
        var w = new StringWriter();
        using var p = new ProgressReporter(w, ProgressStyle.Lines, time: time);
        p.Begin("merging", 10_000);
        Assert.Equal(5_000, p.Track(Enumerable.Range(0, 5_000)).Count());
        Assert.Equal(3_000, p.Track(Enumerable.Range(0, 3_000)).Count());
        p.Render();
        Assert.Contains("(8,000 of 10,000 rows)", w.ToString());
    }
}
