using Joules.Scheduling;
using Xunit;

namespace Joules.Scheduling.Tests;

/// <summary>vLLM V1 scheduling decisions worked out by hand (vllm/v1/core/sched/scheduler.py, kv_cache_manager.py).</summary>
public class ContinuousSchedulerTests
{
    private static (ContinuousScheduler S, ScheduledBatch B) Make(int blocks, int blockSize = 16, int budget = 512, int seqs = 8,
        bool chunked = true, bool caching = false, int hashTokens = 32, int maxModelLen = 4096, bool reserveFullIsl = true)
    {
        var cfg = new SchedulerConfig
        {
            BlockSize = blockSize, MaxNumBatchedTokens = budget, MaxNumSeqs = seqs, ChunkedPrefill = chunked,
            PrefixCaching = caching, HashBlockTokens = hashTokens, MaxModelLen = maxModelLen, ReserveFullIsl = reserveFullIsl,
        };
        return (new ContinuousScheduler(cfg, new KvBlockManager(blocks, blockSize, caching, hashTokens)), new ScheduledBatch());
    }

    private static int Add(ContinuousScheduler s, long id, int input, int output, long[]? hashes = null)
    {
        var slot = s.Sequences.Add(id, input, output, hashes);
        s.AddWaiting(slot);
        return slot;
    }

    private static void Step(ContinuousScheduler s, ScheduledBatch b)
    {
        s.Schedule(b);
        s.Commit(b);
        s.ReleaseFinished(b);
    }

    [Fact]
    public void AWaitingRequestIsAdmittedOnlyWhenItsWholeFirstChunkFitsInTheFreeBlocks()
    {
        // 10 blocks of 16 tokens. R1's 100-token prompt takes 7 blocks; R2's needs 7 more but only 3 are free, so it
        // waits (the old rule gave it a 48-token chunk in the 3 free blocks).
        var (s, b) = Make(blocks: 10);
        var r1 = Add(s, 1, 100, 5);
        Step(s, b);
        Assert.Equal(3, s.Kv.Free);
        var r2 = Add(s, 2, 100, 5);
        s.Schedule(b);
        Assert.Equal(1, b.Count);
        Assert.Equal(r1, b.Slot(0));
        Assert.True(b.IsDecode(0));
        Assert.Equal(1, s.WaitingCount);
        Assert.Equal(SequenceStatus.Waiting, s.Sequences[r2].Status);
        Assert.Equal(3, s.Kv.Free);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void AWaitingRequestNeedsRoomForItsWholePromptUnlessTheFullSequenceGateIsOff(bool reserveFullIsl)
    {
        // 20 blocks of 16 tokens, 128 tokens an iteration. R1 and R2 have 200-token prompts (13 blocks each). Step 1: R1
        // is admitted (13 blocks free of 20) with a 128-token chunk. Step 2: R1's last 72 tokens come first (13 blocks
        // held, 7 free) and leave 56 tokens of budget. vLLM's gate (scheduler_reserve_full_isl) wants R2's 13 blocks and
        // keeps it waiting; without the gate R2's 56-token first chunk (4 blocks) is enough.
        var (s, b) = Make(blocks: 20, budget: 128, reserveFullIsl: reserveFullIsl);
        var r1 = Add(s, 1, 200, 5);
        var r2 = Add(s, 2, 200, 5);
        Step(s, b);
        Assert.Equal(1, b.Count);
        Assert.Equal((r1, 128), (b.Slot(0), b.Tokens(0)));
        s.Schedule(b);
        Assert.Equal((r1, 72), (b.Slot(0), b.Tokens(0)));
        if (reserveFullIsl)
        {
            Assert.Equal(1, b.Count);
            Assert.Equal(SequenceStatus.Waiting, s.Sequences[r2].Status);
            Assert.Equal(7, s.Kv.Free);
        }
        else
        {
            Assert.Equal(2, b.Count);
            Assert.Equal((r2, 56), (b.Slot(1), b.Tokens(1)));
            Assert.Equal(3, s.Kv.Free);
        }
    }

    [Fact]
    public void ARunningSequenceThatCannotGrowPreemptsTheNewestAndNothingIsAdmittedThatStep()
    {
        // 4 blocks of 4 tokens; A and B have 6-token prompts (2 blocks each). After three steps both hold 8 tokens in
        // their 2 blocks; A's 9th token needs a third block: B (newest) is preempted, its blocks freed, A grows.
        var (s, b) = Make(blocks: 4, blockSize: 4, budget: 64, seqs: 4, maxModelLen: 64);
        var a = Add(s, 1, 6, 8);
        var bb = Add(s, 2, 6, 8);
        Step(s, b); // prefill both: 6 computed, 1 generated
        Step(s, b); // decode: 7 computed
        Step(s, b); // decode: 8 computed, 3 generated
        Assert.Equal(0, s.Kv.Free);
        var c = Add(s, 3, 2, 2);
        s.Schedule(b);
        Assert.Equal(1, b.Count);
        Assert.Equal(a, b.Slot(0));
        Assert.Equal(1, b.PreemptedCount);
        Assert.Equal(bb, b.Preempted(0));
        Assert.Equal(0, s.Sequences[bb].Computed);
        Assert.Equal(SequenceStatus.Waiting, s.Sequences[bb].Status);
        // The preempted request is back at the head of the queue, before the newer C; C was not admitted this step.
        Assert.Equal(bb, s.Waiting(0));
        Assert.Equal(c, s.Waiting(1));
        Assert.Equal(1, s.Kv.Free);
        Assert.Equal(1, s.Preemptions);
    }

    [Fact]
    public void ARequestSharingATraceHashedPrefixComputesOnlyTheRest()
    {
        // Blocks of 16 tokens, trace hashes over 32 tokens (2 blocks each). R1 (100 tokens, hashes 7 8 9 10) registers
        // its 6 full blocks. R2 (80 tokens, hashes 7 8 11) finds blocks 0-3 (hashes 7 and 8): 64 tokens cached, 16 to compute.
        var (s, b) = Make(blocks: 40, caching: true);
        Add(s, 1, 100, 50, [7, 8, 9, 10]);
        Step(s, b);
        var r2 = Add(s, 2, 80, 5, [7, 8, 11]);
        s.Schedule(b);
        var e = Enumerable.Range(0, b.Count).Single(i => b.Slot(i) == r2);
        Assert.Equal(16, b.Tokens(e));
        Assert.Equal(64, b.ContextBefore(e));
        Assert.Equal(64, b.HitTokens(e));
        Assert.Equal(64, s.Sequences[r2].CachedPromptTokens);
        Assert.Equal(64, s.Kv.HitTokens);
        Assert.Equal(100 + 80, s.Kv.QueriedTokens);
    }

    [Fact]
    public void AFullyCachedPromptStillComputesItsLastBlock()
    {
        // 96 tokens = 6 whole blocks, all cached by an identical earlier prompt; at least one token must run for its
        // logits, so 5 blocks (80 tokens) hit and the last 16 are recomputed (vLLM: max_cache_hit_length = tokens - 1).
        var (s, b) = Make(blocks: 40, caching: true);
        Add(s, 1, 96, 50, [1, 2, 3]);
        Step(s, b);
        var r2 = Add(s, 2, 96, 5, [1, 2, 3]);
        s.Schedule(b);
        var e = Enumerable.Range(0, b.Count).Single(i => b.Slot(i) == r2);
        Assert.Equal(80, b.HitTokens(e));
        Assert.Equal(16, b.Tokens(e));
    }

    [Fact]
    public void WithoutChunkedPrefillAPromptThatDoesNotFitTheRemainingBudgetStopsAdmission()
    {
        // Budget 100: R1's 60 tokens leave 40; R2's 50-token prompt does not fit and cannot be split, so it waits, and
        // so does R3 behind it (FCFS), although R3's 10 tokens would fit.
        var (s, b) = Make(blocks: 100, budget: 100, chunked: false, maxModelLen: 100);
        Add(s, 1, 60, 5);
        Add(s, 2, 50, 5);
        Add(s, 3, 10, 5);
        s.Schedule(b);
        Assert.Equal(1, b.Count);
        Assert.Equal(60, b.Tokens(0));
        Assert.Equal(2, s.WaitingCount);
    }

    [Fact]
    public void ALongPromptIsChunkedAtTheBudgetAndRunningWorkComesFirst()
    {
        // Budget 512: R1 decodes (1 token), R2's 1200-token prompt gets the other 511, then 511 + 1 decode, then 178.
        var (s, b) = Make(blocks: 200, budget: 512);
        var r1 = Add(s, 1, 10, 100);
        Step(s, b);
        var r2 = Add(s, 2, 1200, 3);
        s.Schedule(b);
        Assert.Equal(2, b.Count);
        Assert.Equal((r1, 1), (b.Slot(0), b.Tokens(0)));
        Assert.Equal((r2, 511), (b.Slot(1), b.Tokens(1)));
        s.Commit(b); s.ReleaseFinished(b);
        s.Schedule(b);
        Assert.Equal((r2, 511, 511), (b.Slot(1), b.Tokens(1), b.ContextBefore(1)));
        s.Commit(b); s.ReleaseFinished(b);
        s.Schedule(b);
        Assert.Equal((r2, 178, 1022), (b.Slot(1), b.Tokens(1), b.ContextBefore(1)));
    }

    [Fact]
    public void APreemptedRequestFindsItsOwnBlocksAgainWhenNothingEvictedThem()
    {
        // 5 blocks of 4 tokens, prefix caching on. A (6 + 4 tokens) and B (6 + 8) hold 2 blocks each after three steps,
        // 8 tokens computed, 1 block free. Step 4: A's 9th token takes the free block; B's needs one too, none is free,
        // and B is the newest, so B preempts itself (its 2 blocks go to the free queue, still cached); A finishes and
        // frees 3. Step 5: B comes back with 9 tokens (6 prompt + 3 generated); nothing was allocated since, so its own
        // 2 blocks (8 tokens) hit and only the 9th token is computed.
        var (s, b) = Make(blocks: 5, blockSize: 4, budget: 64, seqs: 4, caching: true, hashTokens: 4, maxModelLen: 64);
        Add(s, 1, 6, 4);
        var bb = Add(s, 2, 6, 8);
        Step(s, b);
        Step(s, b);
        Step(s, b); // A: 8 computed, 3 generated; B likewise; 1 block free
        Step(s, b); // A takes the free block and finishes; B preempts itself
        Assert.Equal(1, s.Preemptions);
        Step(s, b);
        var st = s.Sequences[bb];
        Assert.Equal(SequenceStatus.Running, st.Status);
        Assert.Equal(8, st.CacheHitTokens);
        // vLLM counts a re-admission's lookup apart from first admissions' (the hit rate it reports excludes it).
        Assert.Equal((12L, 0L), (s.Kv.QueriedTokens, s.Kv.HitTokens));
        Assert.Equal((9L, 8L), (s.Kv.PreemptedQueriedTokens, s.Kv.PreemptedHitTokens));
    }
}
