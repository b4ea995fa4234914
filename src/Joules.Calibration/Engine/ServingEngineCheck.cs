using Joules.Profiles;

namespace Joules.Calibration.Engine;

/// <summary>One comparison of <see cref="ServingEngineCheck"/>: two runs of the same prompt and how many leading greedy tokens agree.</summary>
public sealed record ServingCheckResult(string Name, int Tokens, int Agreeing, int FirstDifference)
{
    /// <summary>Leading tokens that must agree. Not all: the decode-attention kernel adds its partial sums with shared-memory atomics, so
    /// the bf16 rounding differs from run to run and a random model's greedy tokens drift apart after a few steps (measured on an H200:
    /// first differences at token 7 to 20 of 25); a wrong block table or position reads other keys and changes the very first tokens.</summary>
    public const int Required = 4;

    public bool Passed => Agreeing >= Math.Min(Required, Tokens);
}

/// <summary>
/// Checks the serving engine on the GPU through its greedy tokens: the same prompt generated with other KV block ids,
/// through CUDA graphs or eagerly, must give the same tokens; chunked prefill with a batch mate must mostly agree with
/// one whole prefill (only the bf16 rounding of other shapes differs). A wrong block table or position reads other
/// keys and changes every token after it. Where cuDNN loads, prefill attention through its bucketed plans must agree
/// with Joules' kernel the same way, whole and in chunks over the cache with a batch mate ahead of the chunk's rows.
/// </summary>
public static class ServingEngineCheck
{
    public static List<ServingCheckResult> Run(ModelCard model, int device = 0, int promptTokens = 300, int steps = 24, Action<ServingCheckResult>? progress = null)
    {
        var results = new List<ServingCheckResult>();
        var prompt = new int[promptTokens];
        var rnd = new Random(7);
        for (var i = 0; i < prompt.Length; i++) prompt[i] = rnd.Next(100, 30000);
        var blocksNeeded = EngineMath.PagesFor(promptTokens + steps, EngineMath.DefaultPageSize);
        int[] Range(int from) => Enumerable.Range(from, blocksNeeded).ToArray();
        int[] Shuffled(int from)
        {
            var b = Range(from);
            new Random(from).Shuffle(b);
            return b;
        }
        List<int> reference, again, eager, chunked, moved;
        using (var e = new ServingEngine(model, new ServingEngineOptions { Device = device, KvBlocks = 8 * blocksNeeded, MaxBatchedTokens = 2048, MaxSequences = 8, MaxModelLen = 4096 }))
        {
            reference = Generate(e, prompt, steps, Range(0), [prompt.Length]);
            again = Generate(e, prompt, steps, Range(0), [prompt.Length]);
            moved = Generate(e, prompt, steps, Shuffled(3 * blocksNeeded), [prompt.Length]);
            chunked = Generate(e, prompt, steps, Shuffled(blocksNeeded), [128, 128, prompt.Length - 256], mate: Range(5 * blocksNeeded));
        }
        using (var e = new ServingEngine(model, new ServingEngineOptions { Device = device, KvBlocks = 8 * blocksNeeded, MaxBatchedTokens = 2048, MaxSequences = 8, MaxModelLen = 4096, UseGraphs = false }))
            eager = Generate(e, prompt, steps, Range(0), [prompt.Length]);
        List<int>? cudnnWhole = null, cudnnChunked = null;
        var plans = "";
        if (promptTokens > 228 && Joules.Cuda.Cudnn.IsAvailable(out _))
            using (var e = new ServingEngine(model, new ServingEngineOptions { Device = device, KvBlocks = 8 * blocksNeeded, MaxBatchedTokens = 2048, MaxSequences = 8, MaxModelLen = 4096, PrefillAttention = PrefillAttention.Cudnn }))
            {
                cudnnWhole = Generate(e, prompt, steps, Shuffled(2 * blocksNeeded), [prompt.Length]);
                // Chunks of three lengths (fresh, then two over the cache in other buckets), the mate's decode row ahead of them.
                cudnnChunked = Generate(e, prompt, steps, Shuffled(blocksNeeded), [128, 100, prompt.Length - 228], mate: Range(5 * blocksNeeded), mateFirst: true);
                var (built, seconds, _) = e.PrefillPlans;
                plans = $" ({built} cuDNN plans built in {seconds:0.00} s)";
            }
        void Add(string name, List<int> b)
        {
            var agree = 0;
            var first = -1;
            for (var i = 0; i < reference.Count; i++)
            {
                if (reference[i] == b[i]) { if (first < 0) agree++; }
                else if (first < 0) first = i;
            }
            var r = new ServingCheckResult(name, reference.Count, agree, first);
            results.Add(r);
            progress?.Invoke(r);
        }
        Add("same prompt, same blocks, again (graphs replayed)", again);
        Add("same prompt, other (shuffled) block ids", moved);
        Add("same prompt, decodes eager instead of CUDA graphs", eager);
        Add("prefill in chunks of 128 with a batch mate, other block ids", chunked);
        if (cudnnWhole is not null) Add("cuDNN prefill attention (bucketed plans), other block ids", cudnnWhole);
        if (cudnnChunked is not null) Add($"cuDNN prefill in chunks of 128, 100, 72 with a batch mate first{plans}", cudnnChunked);
        return results;
    }

    // Prefills `prompt` in the given chunks (a batch mate decoding beside it when given, its row after the prompt's or, with
    // mateFirst, before them), then decodes `steps` tokens; returns the greedy tokens.
    private static List<int> Generate(ServingEngine e, int[] prompt, int steps, int[] blocks, int[] chunks, int[]? mate = null, bool mateFirst = false)
    {
        var self = mate is not null && mateFirst ? 1 : 0;
        var b = new ServingBatch();
        var tokens = new List<int>();
        var done = 0;
        var mateTokens = new List<int> { 42 };
        var mateCtx = 0;
        void Mate()
        {
            if (mate is null) return;
            b.Add([mateTokens[^1]], mateCtx, mate, mate.Length);
        }
        void MateAdvance()
        {
            if (mate is null) return;
            mateTokens.Add(b.Sampled[self == 1 ? 0 : b.Count - 1]);
            mateCtx++;
        }
        void Step(ReadOnlySpan<int> ids, int context)
        {
            b.Clear();
            if (self == 1) Mate();
            b.Add(ids, context, blocks, blocks.Length);
            if (self == 0) Mate();
            e.Run(b);
            MateAdvance();
        }
        foreach (var c in chunks)
        {
            Step(prompt.AsSpan(done, c), done);
            done += c;
        }
        tokens.Add(b.Sampled[self]);
        for (var s = 0; s < steps; s++)
        {
            Step([tokens[^1]], prompt.Length + s);
            tokens.Add(b.Sampled[self]);
        }
        return tokens;
    }
}
