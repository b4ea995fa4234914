using Joules.Calibration.Engine;
using Joules.Calibration.Measurement;
using Joules.Profiles;
using Xunit;

namespace Joules.Calibration.Tests;

public class TensorParallelLayoutTests
{
    private static readonly ModelCard Llama70B = Catalog.Model("llama-3.1-70b");

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    [InlineData(8)]
    public void ShardsOf70BSumToTheModelAndEachMatchesTheProfilesShard(int tp)
    {
        var layout = new TensorParallelLayout(Llama70B, tp);
        long sharded = Enumerable.Range(0, tp).Sum(r => layout.ShardedParameters(r));
        // Every split weight is held exactly once across the ranks; the norms once per rank.
        Assert.Equal(Llama70B.Parameters, sharded + layout.ReplicatedParameters);
        // What the engine allocates per GPU is what Profiles prices per GPU.
        for (var r = 0; r < tp; r++) Assert.Equal(layout.Shard.ParametersPerGpu, layout.ShardedParameters(r) + layout.ReplicatedParameters);
    }

    [Fact]
    public void ReplicatedKvHeadsAreCountedOncePerHoldingRank()
    {
        var tiny = EngineSelfTest.TinyModel;   // 8 heads, 2 kv heads, QKV bias
        var layout = new TensorParallelLayout(tiny, 4);
        Assert.Equal(2, layout.KvReplication);
        long sharded = Enumerable.Range(0, 4).Sum(r => layout.ShardedParameters(r));
        long kvWeights = tiny.Layers * 2L * tiny.KvHeads * tiny.HeadDim * (tiny.Hidden + 1);   // K and V rows with their bias
        Assert.Equal(tiny.Parameters + kvWeights * (layout.KvReplication - 1), sharded + layout.ReplicatedParameters);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    [InlineData(8)]
    public void QkvRowsCoverQueriesOnceAndEachKvHeadAsOftenAsItIsReplicated(int tp)
    {
        var tiny = EngineSelfTest.TinyModel;
        var layout = new TensorParallelLayout(tiny, tp);
        var count = new int[tiny.QkvWidth];
        for (var r = 0; r < tp; r++)
        {
            var rows = layout.QkvRows(r);
            Assert.Equal(layout.Shard.QkvWidth, rows.Sum(x => x.Count));
            foreach (var span in rows) for (var i = span.Start; i < span.End; i++) count[i]++;
            // A rank's query heads all use its kv heads (grouped-query attention stays local).
            var q = layout.QueryHeads(r);
            var kv = layout.KvHeads(r);
            int group = tiny.Heads / tiny.KvHeads;
            for (var h = q.Start; h < q.End; h++) Assert.InRange(h / group, kv.Start, kv.End - 1);
        }
        int qRows = tiny.Heads * tiny.HeadDim;
        Assert.All(count.Take(qRows), c => Assert.Equal(1, c));
        Assert.All(count.Skip(qRows), c => Assert.Equal(layout.KvReplication, c));
    }

    [Fact]
    public void EveryTokenIdIsLookedUpOnExactlyOneRank()
    {
        var card = EngineSelfTest.TinyModel with { Vocab = 1003 };   // does not divide: the last slice is short
        var layout = new TensorParallelLayout(card, 4);
        Assert.Equal(251, layout.Shard.VocabShard);
        Assert.Equal(new Span1D(753, 250), layout.Vocab(3));
        for (var id = 0; id < card.Vocab; id += 7)
        {
            var owners = Enumerable.Range(0, 4).Where(r => layout.LocalEmbeddingRow(r, id) != layout.Shard.VocabShard).ToArray();
            Assert.Single(owners);
            Assert.Equal(id, layout.Vocab(owners[0]).Start + layout.LocalEmbeddingRow(owners[0], id));
        }
    }

    [Fact]
    public void OneIterationAllReducesTheHiddenStatesTwicePerLayerAndOnceAfterTheEmbedding()
    {
        var layout = new TensorParallelLayout(Llama70B, 4);
        Assert.Equal(161, layout.AllReducesPerIteration);
        Assert.Equal(64L * 8192 * 2, layout.AllReduceBytes(64));                 // decode b=64: 1 MiB per all-reduce
        Assert.Equal(16384L * 8192 * 2, layout.AllReduceBytes(16384));           // prefill 8x2048: 256 MiB
        Assert.Equal(64L * (128256 / 4) * 2, layout.AllGatherBytesPerRank(64));
    }

    [Fact]
    public void SplitsThatDoNotDivideAreRefusedWithTheModelNamed()
    {
        var e = Assert.Throws<ArgumentException>(() => new TensorParallelLayout(Llama70B, 3));
        Assert.Contains("llama-3.1-70b", e.Message);
        var odd = EngineSelfTest.TinyModel with { Name = "odd", Heads = 12, KvHeads = 6 };
        Assert.Contains("kv heads", Assert.Throws<ArgumentException>(() => new TensorParallelLayout(odd, 4)).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new TensorParallelLayout(Llama70B, 2).Vocab(2));
    }

    [Fact]
    public void SlicedRowsAndColumnsReassembleTheFullMatrix()
    {
        int rows = 6, cols = 8;
        var full = Enumerable.Range(0, rows * cols).ToArray();
        var left = MatrixSlices.Columns(full, rows, cols, new Span1D(0, 3));
        var right = MatrixSlices.Columns(full, rows, cols, new Span1D(3, 5));
        for (var r = 0; r < rows; r++)
        {
            Assert.Equal(full.Skip(r * cols).Take(3), left.Skip(r * 3).Take(3));
            Assert.Equal(full.Skip(r * cols + 3).Take(5), right.Skip(r * 5).Take(5));
        }
        Assert.Equal(full.Skip(4 * cols).Take(cols).Concat(full.Take(2 * cols)), MatrixSlices.Rows(full, cols, [new Span1D(4, 1), new Span1D(0, 2)]));
        Assert.Throws<ArgumentOutOfRangeException>(() => MatrixSlices.Rows(full, cols, [new Span1D(5, 2)]));
        Assert.Throws<ArgumentOutOfRangeException>(() => MatrixSlices.Columns(full, rows, cols, new Span1D(6, 3)));
    }
}

public class TensorParallelPlacementTests
{
    [Fact]
    public void GpusMustEqualTpForAWholeInstance()
    {
        var e = Assert.Throws<ArgumentException>(() => TensorParallelPlacement.Parse(4, 2));
        Assert.Contains("--gpus must equal --tp", e.Message);
        Assert.Throws<ArgumentException>(() => TensorParallelPlacement.Parse(0, null));
        var whole = TensorParallelPlacement.Parse(4, 4);
        Assert.True(whole.WholeInstance);
        Assert.Equal([0, 1, 2, 3], whole.Devices);
        var shard = TensorParallelPlacement.Parse(8, null);
        Assert.False(shard.WholeInstance);
        Assert.Equal(1, shard.GpuCount);
        Assert.Equal([0], shard.Devices);
    }

    [Fact]
    public void TooFewGpusIsAClearError()
    {
        var e = Assert.Throws<CalibrationException>(() => TensorParallelPlacement.Parse(2, 2).RequireDevices(1));
        Assert.Contains("--gpus 2 needs 2 GPUs, but this machine has 1", e.Message);
        TensorParallelPlacement.Parse(8, null).RequireDevices(1);   // a shard needs one GPU only
        TensorParallelPlacement.Parse(1, 1).RequireDevices(1);      // tp=1 through NCCL runs on one GPU
    }

    [Fact]
    public void WholeInstancesAlsoCheckTheKvHeadSplit()
    {
        var odd = EngineSelfTest.TinyModel with { Name = "odd", Heads = 12, KvHeads = 6 };
        TensorParallelPlacement.Parse(4, null).Validate(odd);      // a shard replicates kv heads however they divide
        Assert.Throws<ArgumentException>(() => TensorParallelPlacement.Parse(4, 4).Validate(odd));
    }
}
