using System.Text.Json.Serialization;

namespace Joules.Profiles;

/// <summary>Architecture of a Llama-style decoder-only model: the shapes that set its FLOPs, bytes and KV cache.</summary>
public sealed record ModelCard
{
    [JsonPropertyName("name")] public required string Name { get; init; }
    [JsonPropertyName("display_name")] public string? DisplayName { get; init; }
    [JsonPropertyName("layers")] public required int Layers { get; init; }
    [JsonPropertyName("hidden")] public required int Hidden { get; init; }
    [JsonPropertyName("heads")] public required int Heads { get; init; }
    [JsonPropertyName("kv_heads")] public required int KvHeads { get; init; }
    [JsonPropertyName("head_dim")] public required int HeadDim { get; init; }
    [JsonPropertyName("ffn")] public required int Ffn { get; init; }
    [JsonPropertyName("vocab")] public required int Vocab { get; init; }
    [JsonPropertyName("dtype")] public string Dtype { get; init; } = "bf16";
    [JsonPropertyName("rope_theta")] public double RopeTheta { get; init; } = 10000.0;
    [JsonPropertyName("rms_eps")] public double RmsEps { get; init; } = 1e-5;
    [JsonPropertyName("tied_embeddings")] public bool TiedEmbeddings { get; init; }
    [JsonPropertyName("qkv_bias")] public bool QkvBias { get; init; }
    [JsonPropertyName("max_context")] public int MaxContext { get; init; } = 8192;
    [JsonPropertyName("source")] public string? Source { get; init; }

    /// <summary>Bytes per weight or activation element for <see cref="Dtype"/>.</summary>
    public int BytesPerElement => Dtype switch
    {
        "bf16" or "fp16" => 2,
        "fp32" => 4,
        "fp8" or "int8" => 1,
        _ => throw new InvalidOperationException($"model '{Name}': unknown dtype '{Dtype}'"),
    };

    /// <summary>Width of the fused Q, K and V projection output.</summary>
    public int QkvWidth => (Heads + 2 * KvHeads) * HeadDim;

    /// <summary>Parameters of one transformer layer (attention + MLP + two norms).</summary>
    public long ParametersPerLayer =>
        (long)Hidden * QkvWidth + (QkvBias ? QkvWidth : 0)
        + (long)Heads * HeadDim * Hidden
        + 3L * Hidden * Ffn
        + 2L * Hidden;

    /// <summary>All parameters, embeddings and LM head included (counted once when tied).</summary>
    public long Parameters =>
        Layers * ParametersPerLayer + (long)Vocab * Hidden * (TiedEmbeddings ? 1 : 2) + Hidden;

    /// <summary>KV-cache bytes one token occupies across all layers on one unsharded replica.</summary>
    public long KvBytesPerToken => 2L * Layers * KvHeads * HeadDim * BytesPerElement;

    /// <summary>The per-GPU slice of this model under tensor parallelism of degree <paramref name="tp"/>.</summary>
    public ModelShard Shard(int tp) => new(this, tp);

    /// <summary>Checks that the shapes are consistent; throws with the offending field named.</summary>
    public void Validate()
    {
        void Positive(int v, string field) { if (v <= 0) throw new InvalidDataException($"model '{Name}': {field} must be positive, got {v}"); }
        Positive(Layers, "layers"); Positive(Hidden, "hidden"); Positive(Heads, "heads"); Positive(KvHeads, "kv_heads");
        Positive(HeadDim, "head_dim"); Positive(Ffn, "ffn"); Positive(Vocab, "vocab");
        if (Heads % KvHeads != 0) throw new InvalidDataException($"model '{Name}': heads ({Heads}) must be a multiple of kv_heads ({KvHeads})");
        _ = BytesPerElement;
    }
}

/// <summary>Per-GPU shapes of a model split Megatron-style over <see cref="Tp"/> GPUs (heads, KV heads and FFN columns divided; embeddings split by vocab).</summary>
public sealed record ModelShard
{
    public ModelShard(ModelCard model, int tp)
    {
        if (tp < 1) throw new ArgumentOutOfRangeException(nameof(tp), $"tensor-parallel degree must be at least 1, got {tp}");
        if (model.Heads % tp != 0) throw new ArgumentException($"model '{model.Name}': {model.Heads} heads do not divide over tp={tp}");
        if (model.Ffn % tp != 0) throw new ArgumentException($"model '{model.Name}': ffn {model.Ffn} does not divide over tp={tp}");
        Model = model;
        Tp = tp;
        Heads = model.Heads / tp;
        // KV heads are replicated when there are fewer of them than GPUs (as vLLM does).
        KvHeads = Math.Max(1, model.KvHeads / tp);
        Ffn = model.Ffn / tp;
        VocabShard = (model.Vocab + tp - 1) / tp;
    }

    public ModelCard Model { get; }
    public int Tp { get; }
    public int Heads { get; }
    public int KvHeads { get; }
    public int Ffn { get; }
    public int VocabShard { get; }
    public int Hidden => Model.Hidden;
    public int HeadDim => Model.HeadDim;
    public int Layers => Model.Layers;
    public int QkvWidth => (Heads + 2 * KvHeads) * HeadDim;

    /// <summary>Weight parameters held by one GPU.</summary>
    public long ParametersPerGpu =>
        Layers * ((long)Hidden * QkvWidth + (long)Heads * HeadDim * Hidden + 3L * Hidden * Ffn + 2L * Hidden)
        + (long)VocabShard * Hidden * (Model.TiedEmbeddings ? 1 : 2) + Hidden;

    public long WeightBytesPerGpu => ParametersPerGpu * Model.BytesPerElement;

    /// <summary>KV-cache bytes one token occupies on one GPU.</summary>
    public long KvBytesPerTokenPerGpu => 2L * Layers * KvHeads * HeadDim * Model.BytesPerElement;
}
