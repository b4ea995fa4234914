namespace Joules.Profiles.Roofline;

/// <summary>FLOPs and HBM bytes of one stage of an iteration on one GPU: what its roofline floor is made of.</summary>
public readonly record struct StageWork(double Flops, double Bytes)
{
    /// <summary>Seconds at the given rates: the slower of the math and the memory traffic.</summary>
    public double FloorSeconds(double flopsPerSecond, double bytesPerSecond) => Math.Max(Flops / flopsPerSecond, Bytes / bytesPerSecond);

    /// <summary>Whether the math, not the memory traffic, sets <see cref="FloorSeconds"/> at the given rates.</summary>
    public bool IsComputeBound(double flopsPerSecond, double bytesPerSecond) => Flops / flopsPerSecond > Bytes / bytesPerSecond;

    public bool IsEmpty => Flops == 0 && Bytes == 0;
}

/// <summary>
/// An iteration's work on one GPU split into the engine's three kinds of kernels: the GEMM stage (every
/// layer's projections and MLP plus the LM head, with the weights, embedding rows and activations they move),
/// decode attention (each decoding sequence's KV cache read once) and prefill attention (causal attention of
/// the new tokens over their cache and each other, KV written for every new token).
/// </summary>
public readonly record struct IterationWork(StageWork Gemm, StageWork DecodeAttention, StageWork PrefillAttention)
{
    public double Flops => Gemm.Flops + DecodeAttention.Flops + PrefillAttention.Flops;
    public double Bytes => Gemm.Bytes + DecodeAttention.Bytes + PrefillAttention.Bytes;
}

/// <summary>
/// How Joules counts the FLOPs and bytes of an iteration on one GPU shard: the counting the roofline
/// baseline prices and the derived-profile code splits measured time with. Per GPU of tensor-parallel degree tp:
/// GEMM FLOPs = 2 x tokens x (layer linear parameters) x layers + 2 x sequences x hidden x vocab/tp (LM head);
/// attention FLOPs = 4 x query-key pairs x head_dim x heads/tp x layers; bytes = weights read once (layers and
/// LM head; the embedding table only in the rows gathered) + KV read for every cached token attended to + KV
/// written for the new prefill tokens + activations (each GEMM's input and output once per token and layer).
/// </summary>
/// <remarks>
/// The engine's own counter (<c>Joules.Calibration.Engine.EngineMath</c>, which the engine benchmark's roofline
/// uses) counts the same FLOPs; its bytes differ in how activations and the new decode token's KV write are counted:
/// on the engine-check shapes by at most 0.2% for decode and 2.7% for prefill (compute-bound, so bytes do not set
/// its floor). A test holds them there.
/// </remarks>
public sealed class ShardWork
{
    private readonly double _gemmFlopsPerToken;
    private readonly double _lmHeadFlopsPerSequence;
    private readonly double _attnFlopsPerPair;
    private readonly double _weightBytes;
    private readonly double _embeddingBytesPerToken;
    private readonly double _kvBytesPerToken;
    private readonly double _activationBytesPerToken;

    public ShardWork(ModelShard shard)
    {
        ArgumentNullException.ThrowIfNull(shard);
        Shard = shard;
        var s = shard;
        double bpe = s.Model.BytesPerElement;
        double linearPerLayer = (double)s.Hidden * s.QkvWidth + (double)s.Heads * s.HeadDim * s.Hidden + 3.0 * s.Hidden * s.Ffn;
        _gemmFlopsPerToken = 2.0 * linearPerLayer * s.Layers;
        _lmHeadFlopsPerSequence = 2.0 * s.Hidden * s.VocabShard;
        _attnFlopsPerPair = 4.0 * s.HeadDim * s.Heads * s.Layers;
        // Layer weights + two norms per layer + final norm + LM head; the embedding table is gathered, not streamed.
        _weightBytes = (s.Layers * (linearPerLayer + 2.0 * s.Hidden) + s.Hidden + (double)s.VocabShard * s.Hidden) * bpe;
        _embeddingBytesPerToken = s.Hidden * bpe;
        _kvBytesPerToken = s.KvBytesPerTokenPerGpu;
        // Per layer and token: qkv (in hidden, out qkv), o (in heads*hd, out hidden), gate+up (in hidden, out 2 ffn),
        // activation (in 2 ffn, out ffn), down (in ffn, out hidden), two norms (in/out hidden each).
        _activationBytesPerToken = s.Layers * bpe *
            (s.Hidden + s.QkvWidth + (double)s.Heads * s.HeadDim + s.Hidden + s.Hidden + 2.0 * s.Ffn + 3.0 * s.Ffn + s.Ffn + s.Hidden + 4.0 * s.Hidden);
    }

    public ModelShard Shard { get; }

    /// <summary>Attention FLOPs per query-key pair (all layers of the shard).</summary>
    public double AttentionFlopsPerPair => _attnFlopsPerPair;

    /// <summary>KV-cache bytes per token on this GPU (all layers, K and V).</summary>
    public double KvBytesPerToken => _kvBytesPerToken;

    /// <summary>The GEMM stage of <see cref="Stages"/> for any (not necessarily whole) token and sequence counts: the measured-profile fit evaluates it at grid coordinates on every estimate.</summary>
    internal StageWork GemmWork(double tokens, double sequences) =>
        new(_gemmFlopsPerToken * tokens + _lmHeadFlopsPerSequence * sequences, _weightBytes + (_embeddingBytesPerToken + _activationBytesPerToken) * tokens);

    /// <summary>Per-GPU FLOPs of an iteration.</summary>
    public double Flops(in IterationShape shape) =>
        _gemmFlopsPerToken * shape.TotalTokens
        + _lmHeadFlopsPerSequence * shape.TotalSequences
        + _attnFlopsPerPair * (shape.PrefillAttentionPairs + shape.DecodeContextTokens);

    /// <summary>Per-GPU bytes moved to and from HBM in an iteration.</summary>
    public double Bytes(in IterationShape shape) =>
        _weightBytes
        + _embeddingBytesPerToken * shape.TotalTokens
        + _kvBytesPerToken * (shape.PrefillContextTokens + shape.DecodeContextTokens + shape.PrefillTokens)
        + _activationBytesPerToken * shape.TotalTokens;

    /// <summary>The iteration's FLOPs and bytes by stage; the stages add up to <see cref="Flops"/> and <see cref="Bytes"/>.</summary>
    public IterationWork Stages(in IterationShape shape)
    {
        if (shape.IsEmpty) return default;
        var gemm = new StageWork(
            _gemmFlopsPerToken * shape.TotalTokens + _lmHeadFlopsPerSequence * shape.TotalSequences,
            _weightBytes + (_embeddingBytesPerToken + _activationBytesPerToken) * shape.TotalTokens);
        var decode = new StageWork(_attnFlopsPerPair * shape.DecodeContextTokens, _kvBytesPerToken * shape.DecodeContextTokens);
        var prefill = new StageWork(_attnFlopsPerPair * shape.PrefillAttentionPairs,
            _kvBytesPerToken * (shape.PrefillContextTokens + shape.PrefillTokens));
        return new IterationWork(gemm, decode, prefill);
    }
}
