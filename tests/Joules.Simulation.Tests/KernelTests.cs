using FsCheck;
using FsCheck.Fluent;
using Joules.Simulation;
using Joules.Simulation.Kernel;
using Xunit;

namespace Joules.Simulation.Tests;

public class KernelTests
{
    private sealed class Recorder : IEventTarget
    {
        public readonly List<(double, long)> Seen = [];
        public void OnEvent(SimEnvironment env, long arg) => Seen.Add((env.Now, arg));
    }

    [Fact]
    public void EventsFireInTimeThenPriorityThenSchedulingOrder()
    {
        var env = new SimEnvironment();
        var r = new Recorder();
        env.ScheduleAt(2, r, 1);
        env.ScheduleAt(1, r, 2, priority: 1);
        env.ScheduleAt(1, r, 3, priority: 0);
        env.ScheduleAt(1, r, 4, priority: 1);
        env.Timeout(0.5, r, 5);
        env.Run();
        Assert.Equal([(0.5, 5L), (1, 3), (1, 2), (1, 4), (2, 1)], r.Seen);
        Assert.Equal(5, env.ProcessedEvents);
    }

    [Fact]
    public void HeapPopsAnyScheduleInSortedOrder()
    {
        Prop.ForAll<int[]>(times =>
        {
            var env = new SimEnvironment();
            var r = new Recorder();
            for (var i = 0; i < times.Length; i++) env.ScheduleAt(Math.Abs(times[i] % 1000), r, i);
            env.Run();
            var expected = times.Select((t, i) => (t: (double)Math.Abs(t % 1000), i: (long)i)).OrderBy(x => x.t).ThenBy(x => x.i).ToList();
            Assert.Equal(expected, r.Seen.Select(x => (x.Item1, x.Item2)).ToList());
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void SchedulingInThePastOrAdvancingPastTheNextEventIsRefused()
    {
        var env = new SimEnvironment();
        var r = new Recorder();
        env.ScheduleAt(3, r);
        env.Run(until: 2);
        Assert.Equal(2, env.Now);
        Assert.Throws<ArgumentOutOfRangeException>(() => env.ScheduleAt(1, r));
        Assert.Throws<InvalidOperationException>(() => env.AdvanceInline(3));
        env.AdvanceInline(2.5);
        env.Run();
        Assert.Equal(3, env.Now);
    }

    [Fact]
    public void LogHistogramQuantilesAreWithinAFractionOfAPercent()
    {
        var rng = new Random(5);
        var h = new LogHistogram();
        var values = Enumerable.Range(0, 20000).Select(_ => Math.Exp(rng.NextDouble() * 10 - 7)).ToArray();
        foreach (var v in values) h.Add(v);
        Array.Sort(values);
        foreach (var q in new[] { 0.5, 0.9, 0.99 })
        {
            var exact = values[(int)Math.Ceiling(q * values.Length) - 1];
            Assert.InRange(h.Quantile(q), exact * 0.998, exact * 1.002);
        }
        Assert.Equal(values.Average(), h.Mean, 9);
        Assert.True(double.IsNaN(new LogHistogram().Quantile(0.5)));
    }
}
