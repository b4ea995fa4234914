namespace Joules.Scheduling;

/// <summary>Limits of one engine's batch scheduler, named as vLLM names them.</summary>
public sealed record SchedulerConfig
{
    /// <summary>Token budget of one iteration (vLLM max_num_batched_tokens).</summary>
    public int MaxNumBatchedTokens { get; init; } = 8192;

    /// <summary>Most sequences running at once (vLLM max_num_seqs).</summary>
    public int MaxNumSeqs { get; init; } = 1024;

    /// <summary>Split prompts over iterations to fit the token budget (vLLM enable_chunked_prefill).</summary>
    public bool ChunkedPrefill { get; init; } = true;

    /// <summary>Tokens per KV-cache block (vLLM block_size).</summary>
    public int BlockSize { get; init; } = 16;

    /// <summary>Longest context (prompt plus output) a request may have (vLLM max_model_len).</summary>
    public int MaxModelLen { get; init; } = 131072;

    /// <summary>
    /// Admit a waiting (or preempted) request only if the free blocks hold its whole sequence so far (prompt plus the
    /// tokens it has generated, up to max-model-len), prefix-cache hits counted as vLLM counts them, not merely its first
    /// chunk (vLLM scheduler_reserve_full_isl, on by default since March 2026: it keeps chunked prefill from over-admitting
    /// long prompts that then preempt one another). Off: the first chunk's blocks are enough, as vLLM before it.
    /// </summary>
    public bool ReserveFullIsl { get; init; } = true;

    /// <summary>Reuse cached KV blocks of identical prefixes and of a preempted request's own blocks (vLLM enable_prefix_caching, on by default in V1).</summary>
    public bool PrefixCaching { get; init; } = true;

    /// <summary>Tokens covered by one trace block hash (Mooncake's hash_ids cover 512); a multiple of <see cref="BlockSize"/>.</summary>
    public int HashBlockTokens { get; init; } = 512;

    /// <summary>Static batching instead of continuous: a batch forms, runs until its longest member is done, then the next forms.</summary>
    public bool Static { get; init; }

    /// <summary>
    /// Let the scheduler advance steady decodes as a cohort (a step counter instead of a pass over each sequence) while
    /// iterations mix decodes with new prefills. The decisions are exactly those of the plain path; it needs the counting
    /// KV cache (<see cref="KvBlockAccounting"/>) and a power-of-two block size, and callers that read running sequences
    /// between iterations must use the scheduler's cohort-aware accessors. The simulator turns it on; `joules serve` does not.
    /// </summary>
    public bool DeferDecodes { get; init; }

    /// <summary>Fewest decoding sequences worth a decode cohort (below it the plain path is as fast); a tuning knob, not a vLLM setting.</summary>
    public int DeferDecodesMinimum { get; init; } = 64;

    /// <summary>Checks the limits against each other; messages name the setting as the user spells it.</summary>
    public void Validate()
    {
        if (MaxNumBatchedTokens < 1) throw new ArgumentException($"max-num-batched-tokens must be positive, got {MaxNumBatchedTokens}");
        if (MaxNumSeqs < 1) throw new ArgumentException($"max-num-seqs must be positive, got {MaxNumSeqs}");
        if (MaxNumSeqs > MaxNumBatchedTokens)
            throw new ArgumentException($"max-num-seqs ({MaxNumSeqs}) must not exceed max-num-batched-tokens ({MaxNumBatchedTokens}), so every running sequence can decode in each iteration");
        if (BlockSize < 1) throw new ArgumentException($"block-size must be positive, got {BlockSize}");
        if (MaxModelLen < 2) throw new ArgumentException($"max-model-len must be at least 2 tokens, got {MaxModelLen}");
        if (!ChunkedPrefill && !Static && MaxNumBatchedTokens < MaxModelLen)
            throw new ArgumentException(
                $"without chunked prefill, max-num-batched-tokens ({MaxNumBatchedTokens}) must be at least max-model-len ({MaxModelLen}) so every prompt fits one iteration (as vLLM requires); raise the budget or lower max-model-len");
        if (HashBlockTokens < BlockSize || HashBlockTokens % BlockSize != 0)
            throw new ArgumentException($"hash-block-tokens ({HashBlockTokens}) must be a positive multiple of block-size ({BlockSize})");
    }
}
