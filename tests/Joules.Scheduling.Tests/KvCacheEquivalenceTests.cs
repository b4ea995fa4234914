using FsCheck;
using FsCheck.Fluent;
using Joules.Scheduling;
using Xunit;

namespace Joules.Scheduling.Tests;

/// <summary>The block-id KV cache (what a GPU engine uses) and the counting one (what the simulator uses) agree on every operation.</summary>
public class KvCacheEquivalenceTests
{
    private enum Op { Admit, Grow, Preempt, Finish }

    [Fact]
    public void BlockIdsAndCountsGiveTheSameFreeBlocksHitsAndEvictions()
    {
        var ops = Gen.ListOf(Gen.Zip(Gen.Elements(Op.Admit, Op.Admit, Op.Grow, Op.Grow, Op.Grow, Op.Preempt, Op.Finish), Gen.Choose(0, 1000)));
        Prop.ForAll((from blocks in Gen.Choose(4, 120)
                     from hashed in Gen.Elements(true, false)
                     from caching in Gen.Elements(true, true, false)
                     from seed in Gen.Choose(0, 100_000)
                     from list in ops
                     select (blocks, hashed, caching, seed, list)).ToArbitrary(), c =>
        {
            const int bs = 4, hashTokens = 8;
            IKvCache[] caches = [new KvBlockManager(c.blocks, bs, c.caching, hashTokens), new KvBlockAccounting(c.blocks, bs, c.caching, hashTokens)];
            var pools = new[] { new SequencePool(), new SequencePool() };
            var rng = new Random(c.seed);
            var live = new List<int>();
            var nextId = 0;
            // A few shared prefixes, so hashed prompts hit each other's blocks.
            long[][] prefixes = [[1, 2, 3, 4, 5, 6], [1, 2, 7, 8, 9, 10], [11, 12, 13, 14, 15, 16]];
            foreach (var (op, arg) in c.list)
            {
                switch (op)
                {
                    case Op.Admit:
                    {
                        long[]? ids = null;
                        var input = 1 + arg % 40;
                        if (c.hashed && arg % 3 != 0) ids = prefixes[arg % prefixes.Length][..Math.Min(6, (input + hashTokens - 1) / hashTokens)];
                        var slots = pools.Select(p => p.Add(nextId, input, 1 + arg % 13, ids)).ToArray();
                        Assert.Equal(slots[0], slots[1]);
                        nextId++;
                        AdmitBoth(caches, pools, slots[0], rng.Next(1, 50), live);
                        break;
                    }
                    case Op.Grow when live.Count > 0:
                    {
                        var s = live[arg % live.Count];
                        var n = 1 + arg % 9;
                        var ok = caches.Select((k, i) => k.TryGrow(ref pools[i][s], n)).ToArray();
                        Assert.Equal(ok[0], ok[1]);
                        if (ok[0]) for (var i = 0; i < 2; i++) pools[i][s].Computed += n;
                        break;
                    }
                    case Op.Preempt when live.Count > 0:
                    {
                        var s = live[arg % live.Count];
                        for (var i = 0; i < 2; i++) { caches[i].Release(ref pools[i][s], keepForReuse: true); pools[i][s].Computed = 0; }
                        live.Remove(s);
                        // Re-admission right away or later: try now with a random chunk.
                        if (arg % 2 == 0) AdmitBoth(caches, pools, s, rng.Next(1, 50), live);
                        break;
                    }
                    case Op.Finish when live.Count > 0:
                    {
                        var s = live[arg % live.Count];
                        for (var i = 0; i < 2; i++) { caches[i].Release(ref pools[i][s], keepForReuse: false); pools[i].Release(s); }
                        live.Remove(s);
                        break;
                    }
                }
                Assert.Equal(caches[0].Free, caches[1].Free);
                Assert.Equal(caches[0].HitTokens, caches[1].HitTokens);
                Assert.Equal(caches[0].Evictions, caches[1].Evictions);
                Assert.Equal(caches[0].PeakUsed, caches[1].PeakUsed);
                Assert.InRange(caches[0].Free, 0, c.blocks);
            }
        }).QuickCheckThrowOnFailure();
    }

    private static void AdmitBoth(IKvCache[] caches, SequencePool[] pools, int s, int chunk, List<int> live)
    {
        var tokens = pools[0][s].Input + pools[0][s].Generated;
        var hits = caches.Select((k, i) => k.FindCachedPrefix(ref pools[i][s], tokens)).ToArray();
        Assert.Equal(hits[0], hits[1]);
        var n = Math.Min(tokens - hits[0] * caches[0].BlockSize, chunk);
        // Half the admissions through vLLM's full-sequence gate (the whole prompt must fit, not only this chunk).
        var mustFit = chunk % 2 == 0 ? tokens : 0;
        var ok = caches.Select((k, i) => k.TryAdmit(ref pools[i][s], hits[i], n, mustFit)).ToArray();
        Assert.Equal(ok[0], ok[1]);
        if (!ok[0]) return;
        for (var i = 0; i < 2; i++) pools[i][s].Computed = hits[i] * caches[i].BlockSize + n;
        live.Add(s);
    }
}
