using FsCheck;
using FsCheck.Fluent;
using Joules.Calibration.Engine;
using Xunit;

namespace Joules.Calibration.Tests;

/// <summary>The work-list decode attention's plan: every key in exactly one non-empty chunk, within the bounds the GPU buffers are sized by.</summary>
public class DecodeWorkTests
{
    private static void AssertPlan(int[] kvLengths, int kvHeads, int sms)
    {
        var table = new int[DecodeWork.TableLength(kvLengths.Length)];
        int chunks = DecodeWork.Fill(kvLengths, kvHeads, sms, table);
        Assert.Equal(chunks, table[0]);
        Assert.Equal(0, table[1]);
        Assert.Equal(chunks, table[1 + kvLengths.Length]);
        long total = kvLengths.Sum(k => (long)k);
        Assert.True(chunks <= DecodeWork.MaxChunks(kvLengths.Length, kvHeads, sms, total), $"{chunks} chunks over the bound");
        int target = DecodeWork.TargetChunk(total, kvHeads, sms);
        Assert.InRange(target, DecodeWork.MinChunk, DecodeWork.MaxChunk);
        // Every item has a block of its own unless the chunks were capped (then blocks take items in turn).
        if (target < DecodeWork.MaxChunk) Assert.True(chunks * kvHeads <= DecodeWork.Grid(kvLengths.Length, kvHeads, sms));
        for (var i = 0; i < kvLengths.Length; i++)
        {
            int n = table[2 + i] - table[1 + i];
            Assert.True(n >= 1);
            int next = 0;
            for (var j = 0; j < n; j++)
            {
                var (a, b) = DecodeWork.ChunkKeys(kvLengths[i], n, j);
                Assert.Equal(next, a);                          // contiguous: every key exactly once
                Assert.True(b - a <= target, $"chunk of {b - a} keys over the target {target}");
                if (kvHeads >= 8) Assert.True(b > a, $"sequence {i} ({kvLengths[i]} keys, {n} chunks): chunk {j} empty");
                next = b;
            }
            Assert.Equal(kvLengths[i], next);
        }
    }

    [Theory]
    [InlineData(new[] { 1 }, 8, 132)]
    [InlineData(new[] { 1025 }, 8, 132)]
    [InlineData(new[] { 9001, 64, 2, 700, 63 }, 8, 2)]
    [InlineData(new[] { 131073 }, 1, 132)]
    [InlineData(new[] { 5, 5, 5, 5 }, 4, 132)]
    public void CoversEveryKeyOnce(int[] kvLengths, int kvHeads, int sms) => AssertPlan(kvLengths, kvHeads, sms);

    [Fact]
    public void AnyBatchStaysWithinTheBoundsOfItsSize() =>
        Prop.ForAll(
            Arb.From(Gen.ListOf(Gen.Choose(1, 40000)).Where(l => l.Count() is > 0 and <= 300).Select(l => l.ToArray())),
            Arb.From(Gen.Elements(1, 2, 4, 8)),
            Arb.From(Gen.Elements(2, 78, 132)),
            (lengths, kvHeads, sms) => { AssertPlan(lengths, kvHeads, sms); return true; }).QuickCheckThrowOnFailure();

    [Fact]
    public void ChunksFollowTheSumOfContextsNotTheLongest()
    {
        // 64 decodes averaging 1024 keys: uniform, or one of 8192 and the rest short. Both are cut to the same target
        // chunk (it depends on the sum only) and need about the same blocks; the old split by the longest context
        // launched 4x the blocks for the spread batch, most of them empty.
        int[] uniform = [.. Enumerable.Repeat(1025, 64)];
        int[] spread = [.. Enumerable.Range(0, 64).Select(i => i == 0 ? 8193 : 911)];
        Assert.Equal(DecodeWork.TargetChunk(uniform.Sum(), 8, 132), DecodeWork.TargetChunk(spread.Sum() + 14, 8, 132));
        var a = new int[DecodeWork.TableLength(64)];
        var b = new int[DecodeWork.TableLength(64)];
        int ca = DecodeWork.Fill(uniform, 8, 132, a), cb = DecodeWork.Fill(spread, 8, 132, b);
        // The longest item (what a block's time follows) is no longer in the spread batch than in the uniform one.
        static int Longest(int[] lengths, int[] table) => lengths.Select((k, i) => DecodeWork.ChunkKeys(k, table[2 + i] - table[1 + i], 0)).Max(c => c.End - c.Start);
        Assert.True(Longest(spread, b) <= Longest(uniform, a) * 2, $"{Longest(spread, b)} vs {Longest(uniform, a)}");
        Assert.True(ca > 0 && cb > 0);
        var (oldUniform, _) = EngineMath.DecodeSplits(64, 8, 1025, 132);
        var (oldSpread, _) = EngineMath.DecodeSplits(64, 8, 8193, 132);
        Assert.True(oldSpread >= 4 * oldUniform);
    }

    [Theory]
    [InlineData(1, 8, 512, 8)]
    [InlineData(8, 8, 512, 8)]
    [InlineData(9, 8, 512, 12)]
    [InlineData(13, 8, 512, 16)]
    [InlineData(17, 8, 512, 24)]
    [InlineData(25, 8, 512, 32)]
    [InlineData(300, 8, 512, 384)]
    [InlineData(400, 8, 512, 512)]
    [InlineData(500, 8, 500, 500)]
    [InlineData(3, 1, 64, 3)]
    public void GraphStridesAreFewAndCoverTheLongestSequence(int pages, int minimum, int maximum, int expected) =>
        Assert.Equal(expected, ServingEngine.StrideBucket(pages, minimum, maximum));

    [Theory]
    [InlineData(32, 8, 4, 8)]    // 8B: groups of 4 already
    [InlineData(8, 1, 4, 2)]     // 70B tp8 shard: one kv head's 8 query heads as two items of 4
    [InlineData(32, 4, 4, 8)]    // 70B tp2 shard
    [InlineData(8, 1, 8, 1)]     // groups of 8 kept whole when asked
    [InlineData(16, 2, 2, 8)]
    [InlineData(12, 2, 4, 4)]    // a group of 6 halves to 3 and stops (6 is not divisible by 4)
    [InlineData(4, 4, 4, 4)]     // no GQA
    public void ItemHeadsSplitLargeQueryGroupsEvenly(int heads, int kvHeads, int maxGroup, int expected)
    {
        int items = DecodeWork.ItemHeads(heads, kvHeads, maxGroup);
        Assert.Equal(expected, items);
        Assert.Equal(0, items % kvHeads);
        Assert.Equal(0, heads % items);
    }

    [Fact]
    public void ItemHeadsRefuseHeadsThatDoNotGroup() =>
        Assert.Throws<ArgumentException>(() => DecodeWork.ItemHeads(10, 4, 4));

    [Theory]
    [InlineData(32, 8, 8)]       // 8B: one item per kv head (4 query heads in the tile)
    [InlineData(8, 1, 1)]        // 70B tp8 shard: the group of 8 in one item, its K/V read once
    [InlineData(32, 4, 4)]       // 70B tp2 shard
    [InlineData(6, 2, 2)]        // a group of 3
    [InlineData(32, 2, 4)]       // a group of 16 is more rows than the kernel keeps: two items of 8
    public void TensorCoreItemsHoldAWholeKvHeadUpToEightQueryHeads(int heads, int kvHeads, int expected)
    {
        Assert.Equal(expected, DecodeKernel.TensorCore.ItemHeads(heads, kvHeads, maxGroup: 2));
        Assert.True(DecodeKernel.TensorCore.UsesWorkList());
        // The CUDA-core work list keeps honouring its own group limit.
        Assert.Equal(DecodeWork.ItemHeads(heads, kvHeads, 2), DecodeKernel.WorkList.ItemHeads(heads, kvHeads, maxGroup: 2));
        Assert.False(DecodeKernel.SinglePass.UsesWorkList());
    }
}
