using Joules.Profiles;

namespace Joules.Calibration.Engine;

/// <summary>Work and memory of one engine iteration on one GPU shard: FLOPs, bytes moved, KV pages; pure arithmetic, no GPU.</summary>
public static class EngineMath
{
    /// <summary>Tokens per KV-cache page (vLLM's default block size).</summary>
    public const int DefaultPageSize = 16;

    /// <summary>Pages a sequence needs to hold <paramref name="tokens"/> tokens.</summary>
    public static int PagesFor(int tokens, int pageSize = DefaultPageSize) => (tokens + pageSize - 1) / pageSize;

    /// <summary>KV-cache pages the composition needs (context plus new tokens of every sequence).</summary>
    public static long Pages(IterationComposition c, int pageSize = DefaultPageSize) =>
        c.Sequences.Sum(s => (long)PagesFor(s.ContextBefore + s.NewTokens, pageSize));

    /// <summary>Bytes of one KV page across all layers (K and V) on one GPU.</summary>
    public static long PageBytes(ModelShard m, int pageSize = DefaultPageSize) => m.KvBytesPerTokenPerGpu * pageSize;

    /// <summary>Whether a sequence runs through the decode kernel (one new token over a non-empty cache) rather than prefill attention.</summary>
    public static bool IsDecode(SequenceWork s) => s.NewTokens == 1 && s.ContextBefore > 0;

    /// <summary>Matrix-multiply FLOPs per token of one layer (2 per multiply-add).</summary>
    public static double GemmFlopsPerTokenPerLayer(ModelShard m) =>
        2.0 * ((double)m.Hidden * m.QkvWidth + (double)m.Heads * m.HeadDim * m.Hidden + 3.0 * m.Hidden * m.Ffn);

    /// <summary>Total FLOPs of an iteration: layer GEMMs for every token, attention (QKᵀ and PV) over each query's visible keys, LM head for each sequence's last token.</summary>
    public static double Flops(ModelShard m, IterationComposition c)
    {
        long tokens = c.Sequences.Sum(s => (long)s.NewTokens);
        double pairs = 0;
        foreach (var s in c.Sequences) pairs += s.NewTokens * (double)s.ContextBefore + s.NewTokens * (s.NewTokens + 1.0) / 2.0;
        double attn = 4.0 * m.Heads * m.HeadDim * pairs * m.Layers;
        return tokens * GemmFlopsPerTokenPerLayer(m) * m.Layers + attn + 2.0 * c.Sequences.Count * m.VocabShard * m.Hidden;
    }

    /// <summary>Minimum bytes an iteration must move through device memory: every weight once (embedding rows aside), the KV cache each sequence reads and writes, and the layer activations.</summary>
    public static double Bytes(ModelShard m, IterationComposition c)
    {
        int e = m.Model.BytesPerElement;
        double weights = m.Layers * ((double)m.Hidden * m.QkvWidth + (double)m.Heads * m.HeadDim * m.Hidden + 3.0 * m.Hidden * m.Ffn + 2.0 * m.Hidden) * e
                         + (double)m.VocabShard * m.Hidden * e + m.Hidden * e;
        double kvPerToken = m.KvBytesPerTokenPerGpu;
        double kv = 0;
        long tokens = 0;
        foreach (var s in c.Sequences)
        {
            tokens += s.NewTokens;
            // Decode reads the whole context once; prefill tiles read the visible keys once per 64-query tile and head group (counted once: the lower bound).
            kv += (s.ContextBefore + s.NewTokens) * kvPerToken + s.NewTokens * kvPerToken;
        }
        // Activations: per layer each token writes and reads its hidden state, QKV, attention output and the MLP intermediates.
        double act = tokens * (double)m.Layers * e * (4.0 * m.Hidden + 2.0 * m.QkvWidth + 2.0 * m.Heads * m.HeadDim + 6.0 * m.Ffn);
        return weights + kv + act;
    }

    /// <summary>Roofline time of an iteration: the slower of compute at <paramref name="flopsPerSecond"/> and memory at <paramref name="bytesPerSecond"/>.</summary>
    public static double RooflineSeconds(ModelShard m, IterationComposition c, double flopsPerSecond, double bytesPerSecond) =>
        Math.Max(Flops(m, c) / flopsPerSecond, Bytes(m, c) / bytesPerSecond);

    /// <summary>Splits of decode attention so that (sequences × kv heads × splits) fills the GPU about twice, each split at most 512 keys (the kernel's shared-memory bound).</summary>
    public static (int Splits, int Chunk) DecodeSplits(int decodeSequences, int kvHeads, int maxKv, int multiprocessors)
    {
        if (decodeSequences == 0 || maxKv <= 0) return (1, 64);
        int target = 2 * multiprocessors;
        int splits = Math.Max(1, (target + decodeSequences * kvHeads - 1) / (decodeSequences * kvHeads));
        splits = Math.Min(splits, Math.Max(1, (maxKv + 63) / 64));         // at least 64 keys per split
        splits = Math.Max(splits, (maxKv + 511) / 512);                     // at most 512 keys per split
        int chunk = (maxKv + splits - 1) / splits;
        chunk = (chunk + 15) / 16 * 16;
        splits = (maxKv + chunk - 1) / chunk;
        return (splits, chunk);
    }
}
