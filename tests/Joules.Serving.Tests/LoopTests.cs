using Joules.Profiles;
using Joules.Scheduling;
using Joules.Serving.Engines;
using Joules.Serving.Loop;
using Xunit;

namespace Joules.Serving.Tests;

/// <summary>The real-time loop over the scheduler: tokens, KV freed on finish and on abort, preemption under a small cache, EOS.</summary>
public class LoopTests
{
    /// <summary>Every iteration costs 1 ms and 1 J, so tests run fast and their sums are known.</summary>
    private sealed class FixedCost : ICostModel
    {
        public string Name => "fixed";
        public GpuSpec Gpu { get; } = Catalog.Gpu("h200");
        public ModelCard Model { get; } = Catalog.Model("llama-3.1-8b");
        public int TensorParallel => 1;
        public double IdleWatts => 100;
        public IterationCost Estimate(in IterationShape shape) => new(0.001, 1);
    }

    private static ServingLoop Loop(int kvBlocks = 1000, SchedulerConfig? cfg = null, IEnumerable<int>? eos = null, IIterationObserver? observer = null) =>
        new(new SimulatedEngine(new FixedCost(), kvBlocks), cfg ?? new SchedulerConfig { MaxNumBatchedTokens = 256, MaxNumSeqs = 8, MaxModelLen = 4096 }, null, observer, eos);

    private static async Task<List<TokenEvent>> Drain(ServingRequest r)
    {
        var list = new List<TokenEvent>();
        await foreach (var e in r.Events.ReadAllAsync()) list.Add(e);
        return list;
    }

    [Fact]
    public async Task EveryRequestGetsItsTokensInTimeOrderAndTheCacheEmpties()
    {
        using var loop = Loop();
        var reqs = Enumerable.Range(0, 20).Select(i => new ServingRequest(i, Enumerable.Range(1, 50 + 13 * i).ToArray(), 5 + i, ignoreEos: true)).ToList();
        foreach (var r in reqs) loop.Submit(r);
        foreach (var r in reqs)
        {
            var events = await Drain(r);
            Assert.Equal(r.MaxTokens, events.Count);
            Assert.Equal(FinishReason.Length, events[^1].Finish);
            for (var i = 1; i < events.Count; i++) Assert.True(events[i].TimeS >= events[i - 1].TimeS);
            Assert.True(r.FirstTokenS >= r.FirstScheduledS && r.FirstScheduledS >= r.QueuedS);
        }
        Assert.Equal(0, loop.Resident);
        var s = loop.Snapshot;
        Assert.Equal(0, s.KvBlocksUsed);
        Assert.Equal(reqs.Sum(r => (long)r.MaxTokens), s.GenerationTokens);
        Assert.Equal(20, s.RequestsFinished);
    }

    [Fact]
    public async Task AnAbortFreesTheRequestsBlocksAndEndsItsStream()
    {
        using var loop = Loop();
        var r = new ServingRequest(1, Enumerable.Range(1, 300).ToArray(), 3000, ignoreEos: true);
        loop.Submit(r);
        await foreach (var e in r.Events.ReadAllAsync())
        {
            if (e.Token >= 0 && r.Generated >= 3) break;
        }
        Assert.True(loop.Snapshot.KvBlocksUsed > 0 || loop.Resident == 1);
        loop.Abort(r);
        var rest = await Drain(r);
        Assert.Equal(FinishReason.Abort, rest[^1].Finish);
        for (var i = 0; i < 200 && loop.Snapshot.KvBlocksUsed > 0; i++) await Task.Delay(5);
        Assert.Equal(0, loop.Snapshot.KvBlocksUsed);
        Assert.Equal(0, loop.Resident);
        Assert.Equal(1, loop.Snapshot.RequestsAborted);
    }

    [Fact]
    public async Task AFullCachePreemptsAndEveryRequestStillFinishes()
    {
        // 40 blocks of 16 tokens; 6 requests of 100 + 60 tokens need 10 blocks each at the end.
        using var loop = Loop(kvBlocks: 40);
        var reqs = Enumerable.Range(0, 6).Select(i => new ServingRequest(i, Enumerable.Range(1, 100).ToArray(), 60, ignoreEos: true)).ToList();
        foreach (var r in reqs) loop.Submit(r);
        foreach (var r in reqs) Assert.Equal(60, (await Drain(r)).Count(e => e.Token >= 0));
        Assert.True(loop.Snapshot.Preemptions > 0);
        Assert.True(reqs.Sum(r => r.Preemptions) > 0);
        Assert.Equal(0, loop.Snapshot.KvBlocksUsed);
    }

    [Fact]
    public async Task AnEosTokenStopsARequestAfterMinTokensUnlessEosIsIgnored()
    {
        // The sim engine's token for request 7 at each position is known: make the third one the EOS.
        var eos = SimulatedEngine.Token(7, 10 + 2, Catalog.Model("llama-3.1-8b").Vocab);
        using var loop = Loop(eos: [eos]);
        var stops = new ServingRequest(7, Enumerable.Range(1, 10).ToArray(), 50);
        var ignores = new ServingRequest(7, Enumerable.Range(1, 10).ToArray(), 50, ignoreEos: true);
        loop.Submit(stops);
        var a = await Drain(stops);
        loop.Submit(ignores);
        var b = await Drain(ignores);
        Assert.Equal(3, a.Count);
        Assert.Equal(FinishReason.Stop, a[^1].Finish);
        Assert.Equal(50, b.Count);
        Assert.Equal(0, loop.Snapshot.KvBlocksUsed);
    }

    [Fact]
    public void RequestsTheCacheCouldNeverHoldAreRefused()
    {
        using var loop = Loop(kvBlocks: 4);
        var e = Assert.Throws<RequestRejectedException>(() => loop.Submit(new ServingRequest(1, Enumerable.Range(1, 60).ToArray(), 10)));
        Assert.Equal("max_tokens", e.Param);
        Assert.Contains("4 blocks", e.Message);
    }

    private sealed class Recorder : IIterationObserver
    {
        public List<IterationRecord> Records { get; } = new();
        public void OnIteration(in IterationRecord r) { lock (Records) Records.Add(r); }
    }

    [Fact]
    public async Task EachIterationIsReportedWithItsShapeAndTimes()
    {
        var rec = new Recorder();
        using var loop = Loop(observer: rec);
        var r = new ServingRequest(3, Enumerable.Range(1, 40).ToArray(), 6, ignoreEos: true);
        loop.Submit(r);
        await Drain(r);
        List<IterationRecord> list;
        lock (rec.Records) list = rec.Records.ToList();
        Assert.Equal(6, list.Count);
        Assert.Equal(40, list[0].Shape.PrefillTokens);
        Assert.All(list.Skip(1), x => Assert.Equal(1, x.Shape.DecodeSequences));
        Assert.All(list, x => Assert.True(x.EngineS >= x.DeviceS * 0.999 && x.DeviceS == 0.001));
        Assert.Equal(41 + 4, list[^1].MaxDecodeContext);
    }
}
