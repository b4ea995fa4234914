using Joules.Profiles;

namespace Joules.Calibration.Engine;

/// <summary>A run of consecutive rows (or columns) of a full weight matrix.</summary>
public readonly record struct Span1D(int Start, int Count)
{
    public int End => Start + Count;
}

/// <summary>
/// How a model is split over the ranks of one tensor-parallel instance (Megatron-style, as vLLM does it): which
/// slice of every full weight each rank holds, and the collectives one iteration needs. Pure arithmetic, no GPU.
/// </summary>
/// <remarks>
/// Column-parallel (output rows split): the fused QKV projection (query heads split; KV heads split, or replicated
/// when there are fewer KV heads than ranks) and the fused gate/up projection. Row-parallel (input columns split):
/// the O and down projections, whose partial products are summed by an all-reduce. The embedding is split by vocab
/// (each rank looks up the ids it holds, the others contribute zeros, an all-reduce sums them); the LM head is split
/// by vocab and its logits are all-gathered for sampling. Norm weights are replicated.
/// </remarks>
public sealed class TensorParallelLayout
{
    public TensorParallelLayout(ModelCard model, int tp)
    {
        model.Validate();
        Model = model;
        Tp = tp;
        Shard = model.Shard(tp); // checks that heads and ffn divide over tp
        if (model.KvHeads % tp != 0 && tp % model.KvHeads != 0)
            throw new ArgumentException($"model '{model.Name}': {model.KvHeads} kv heads can neither be split over nor replicated across tp={tp} ranks");
    }

    public ModelCard Model { get; }
    public int Tp { get; }
    /// <summary>The per-rank shapes (same on every rank).</summary>
    public ModelShard Shard { get; }

    /// <summary>All-reduces one iteration makes: one after the embedding lookup, then one after attention and one after the MLP in every layer.</summary>
    public int AllReducesPerIteration => 2 * Model.Layers + 1;

    /// <summary>Bytes each all-reduce of an iteration over <paramref name="tokens"/> tokens carries: the hidden states, tokens x hidden x element size.</summary>
    public long AllReduceBytes(long tokens) => tokens * Model.Hidden * Model.BytesPerElement;

    /// <summary>Bytes each rank contributes to the logits all-gather: sequences x vocab shard x element size.</summary>
    public long AllGatherBytesPerRank(int sequences) => (long)sequences * Shard.VocabShard * Model.BytesPerElement;

    private void CheckRank(int rank)
    {
        if (rank < 0 || rank >= Tp) throw new ArgumentOutOfRangeException(nameof(rank), $"rank {rank} outside 0..{Tp - 1}");
    }

    /// <summary>Query heads of <paramref name="rank"/>.</summary>
    public Span1D QueryHeads(int rank)
    {
        CheckRank(rank);
        return new(rank * Shard.Heads, Shard.Heads);
    }

    /// <summary>KV heads of <paramref name="rank"/>: its own slice, or the one head its query heads share when KV heads are replicated.</summary>
    public Span1D KvHeads(int rank)
    {
        var q = QueryHeads(rank);
        int group = Model.Heads / Model.KvHeads;
        return new(q.Start / group, Shard.KvHeads);
    }

    /// <summary>Rows of the full fused QKV weight (Q rows, then K, then V) that <paramref name="rank"/> holds, in its own order.</summary>
    public IReadOnlyList<Span1D> QkvRows(int rank)
    {
        int d = Model.HeadDim;
        var q = QueryHeads(rank);
        var kv = KvHeads(rank);
        return
        [
            new(q.Start * d, q.Count * d),
            new((Model.Heads + kv.Start) * d, kv.Count * d),
            new((Model.Heads + Model.KvHeads + kv.Start) * d, kv.Count * d),
        ];
    }

    /// <summary>Columns of the full O projection weight ([hidden x heads*head_dim]) that <paramref name="rank"/> holds.</summary>
    public Span1D OColumns(int rank)
    {
        var q = QueryHeads(rank);
        return new(q.Start * Model.HeadDim, q.Count * Model.HeadDim);
    }

    /// <summary>FFN columns of <paramref name="rank"/>.</summary>
    public Span1D Ffn(int rank)
    {
        CheckRank(rank);
        return new(rank * Shard.Ffn, Shard.Ffn);
    }

    /// <summary>Rows of the full fused gate/up weight (gate rows, then up rows) that <paramref name="rank"/> holds, in its own order.</summary>
    public IReadOnlyList<Span1D> GateUpRows(int rank)
    {
        var f = Ffn(rank);
        return [f, new(Model.Ffn + f.Start, f.Count)];
    }

    /// <summary>Vocabulary ids <paramref name="rank"/> holds (the last rank's slice is shorter when the vocab does not divide).</summary>
    public Span1D Vocab(int rank)
    {
        CheckRank(rank);
        int start = Math.Min(rank * Shard.VocabShard, Model.Vocab);
        return new(start, Math.Min(Shard.VocabShard, Model.Vocab - start));
    }

    /// <summary>The row of <paramref name="rank"/>'s embedding table that global id <paramref name="id"/> maps to: its own row, or the zero row at <see cref="ModelShard.VocabShard"/> for ids another rank holds.</summary>
    public int LocalEmbeddingRow(int rank, int id)
    {
        var v = Vocab(rank);
        return id >= v.Start && id < v.End ? id - v.Start : Shard.VocabShard;
    }

    /// <summary>Weight elements <paramref name="rank"/> holds that are slices of a split weight (QKV and its bias, O, gate/up, down, embedding and LM head rows).</summary>
    public long ShardedParameters(int rank)
    {
        var v = Vocab(rank);
        long qkvRows = QkvRows(rank).Sum(r => (long)r.Count);
        long perLayer = qkvRows * Model.Hidden + (Model.QkvBias ? qkvRows : 0)
                        + (long)Model.Hidden * OColumns(rank).Count + 3L * Model.Hidden * Ffn(rank).Count;
        return Model.Layers * perLayer + (long)v.Count * Model.Hidden * (Model.TiedEmbeddings ? 1 : 2);
    }

    /// <summary>Weight elements every rank holds in full (the RMSNorm weights).</summary>
    public long ReplicatedParameters => (2L * Model.Layers + 1) * Model.Hidden;

    /// <summary>How many ranks hold each KV head (1 when KV heads are split, more when replicated).</summary>
    public int KvReplication => Math.Max(1, Tp / Model.KvHeads);
}

/// <summary>Host-side slicing of row-major matrices, to hand each rank its part of a full weight (the self-test builds a split model from an unsplit one this way).</summary>
public static class MatrixSlices
{
    /// <summary>The given rows of a row-major matrix with <paramref name="cols"/> columns, concatenated in order.</summary>
    public static T[] Rows<T>(T[] full, int cols, IEnumerable<Span1D> rows)
    {
        var list = rows.ToArray();
        var result = new T[list.Sum(r => (long)r.Count) * cols];
        long o = 0;
        foreach (var r in list)
        {
            if (r.Start < 0 || (long)r.End * cols > full.Length) throw new ArgumentOutOfRangeException(nameof(rows), $"rows {r.Start}..{r.End} outside a matrix of {full.Length / Math.Max(1, cols)} rows");
            Array.Copy(full, (long)r.Start * cols, result, o, (long)r.Count * cols);
            o += (long)r.Count * cols;
        }
        return result;
    }

    /// <summary>Columns <paramref name="columns"/> of every row of a row-major [rows x cols] matrix.</summary>
    public static T[] Columns<T>(T[] full, int rows, int cols, Span1D columns)
    {
        if ((long)rows * cols != full.Length) throw new ArgumentException($"a {rows}x{cols} matrix has {(long)rows * cols} elements, not {full.Length}");
        if (columns.Start < 0 || columns.End > cols) throw new ArgumentOutOfRangeException(nameof(columns), $"columns {columns.Start}..{columns.End} outside 0..{cols}");
        var result = new T[(long)rows * columns.Count];
        for (long r = 0; r < rows; r++) Array.Copy(full, r * cols + columns.Start, result, r * columns.Count, columns.Count);
        return result;
    }
}
