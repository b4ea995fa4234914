using System.Reflection;
using Joules.Cuda;

namespace Joules.Calibration.Engine;

/// <summary>Which decode-attention kernel runs: the work-list one (chunks of even length over all sequences, cost follows the sum of contexts), the same work list on tensor cores (each K/V byte read once for all of a kv head's query heads), the single-pass online-softmax one split by the longest context, or the two-pass one (scores in shared memory).</summary>
public enum DecodeKernel { WorkList, SinglePass, TwoPass, TensorCore }

/// <summary>Questions about a <see cref="DecodeKernel"/> that the engine, its planner and the self-test share.</summary>
public static class DecodeKernels
{
    /// <summary>Whether the kernel takes its items from the work list (<see cref="DecodeWork"/>) and writes one partial row per chunk and head.</summary>
    public static bool UsesWorkList(this DecodeKernel kernel) => kernel is DecodeKernel.WorkList or DecodeKernel.TensorCore;

    /// <summary>Command-line and settings names of the kernels (engine bench, calibrate and serve take them).</summary>
    public static IReadOnlyDictionary<DecodeKernel, string> Names { get; } = new Dictionary<DecodeKernel, string>
    {
        [DecodeKernel.TensorCore] = "tensor-core", [DecodeKernel.WorkList] = "work-list", [DecodeKernel.SinglePass] = "single-pass", [DecodeKernel.TwoPass] = "two-pass",
    };

    /// <summary>The kernel a name of <see cref="Names"/> stands for.</summary>
    public static DecodeKernel Parse(string name) =>
        Names.FirstOrDefault(kv => kv.Value == name) is { Value: not null } hit ? hit.Key
            : throw new ArgumentException($"unknown decode-attention kernel '{name}'; expected one of {string.Join(", ", Names.Values)}");

    /// <summary>Most query heads the tensor-core kernel's items hold (the rows of its 16-row tiles it keeps).</summary>
    public const int TensorCoreMaxGroup = 8;

    /// <summary>The heads work-list items are made of: for the tensor-core kernel every kv head whole (groups up to <see cref="TensorCoreMaxGroup"/>), else groups of at most <paramref name="maxGroup"/>.</summary>
    public static int ItemHeads(this DecodeKernel kernel, int heads, int kvHeads, int maxGroup) =>
        DecodeWork.ItemHeads(heads, kvHeads, kernel == DecodeKernel.TensorCore ? TensorCoreMaxGroup : maxGroup);
}

/// <summary>What the streaming GEMV computes in front of its product: the input as stored, its RMSNorm, or SwiGLU of a [gate | up] row.</summary>
public enum GemvInput { Plain = 0, RmsNorm = 1, SwiGlu = 2 }

/// <summary>The engine's CUDA C kernels (embedded resource), compiled by NVRTC for the current device, with typed launchers.</summary>
public sealed class EngineKernels : IDisposable
{
    /// <summary>Resource name of the kernel source in this assembly.</summary>
    public const string SourceResource = "Joules.Calibration.Engine.Kernels.transformer.cu";

    private readonly CudaModule _module;

    public EngineKernels(CudaContext ctx)
    {
        Arch = ctx.Arch;
        var cubin = Nvrtc.CompileToCubin(Source(), "transformer.cu", Arch);
        _module = new CudaModule(cubin);
        CubinBytes = cubin.Length;
    }

    public string Arch { get; }
    public int CubinBytes { get; }

    /// <summary>SHA-256 (hex, first 16 digits) of the embedded CUDA C source: which kernels measured a profile, and whether a log may be resumed.</summary>
    public static string SourceSha256 => s_sourceSha.Value;

    private static readonly Lazy<string> s_sourceSha = new(() =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(Source())))[..16]);

    /// <summary>The embedded CUDA C source.</summary>
    public static string Source()
    {
        using var s = typeof(EngineKernels).Assembly.GetManifestResourceStream(SourceResource)
                      ?? throw new InvalidOperationException($"embedded kernel source '{SourceResource}' is missing from {typeof(EngineKernels).Assembly.GetName().Name}");
        using var r = new StreamReader(s);
        return r.ReadToEnd();
    }

    private static uint Blocks(long n, int per, int cap = 65535) => (uint)Math.Clamp((n + per - 1) / per, 1, cap);

    public void FillUniform(CudaStream s, ulong p, long count, uint seed, float scale, float offset = 0f) =>
        _module.Kernel("fill_uniform").Launch(new Dim3(Blocks(count, 256, 8192)), 256, 0, s, p, count, (int)seed, scale, offset);

    public void Embed(CudaStream s, ulong ids, ulong table, ulong output, int tokens, int hidden) =>
        _module.Kernel("embed").Launch(tokens, 128, 0, s, ids, table, output, hidden);

    /// <summary>out[r] = RMSNorm(x[rows?[r] ?? r]) · w for r in [0, count).</summary>
    public void RmsNorm(CudaStream s, ulong x, ulong rows, ulong w, ulong output, int count, int hidden, float eps) =>
        _module.Kernel("rmsnorm").Launch(count, 256, 0, s, x, rows, w, output, hidden, eps);

    public void QkvRopeCache(CudaStream s, ulong qkv, ulong bias, ulong tokPos, ulong tokSlot, ulong kcache, ulong vcache,
        int tokens, int heads, int kvHeads, int headDim, double ropeTheta) =>
        _module.Kernel("qkv_rope_cache").Launch(tokens, 256, headDim * 4, s, qkv, bias, tokPos, tokSlot, kcache, vcache,
            heads, kvHeads, headDim, (float)Math.Log2(ropeTheta));

    private readonly HashSet<string> _smemRaised = new();

    public void PrefillAttention(CudaStream s, int headDim, ulong qkv, ulong kc, ulong vc, ulong blockTable, int maxPages, int pageSize,
        ulong tiles, int tileCount, ulong seqStart, ulong seqNew, ulong seqCtx, ulong output, int heads, int kvHeads, bool pipelined = true)
    {
        if (headDim is not (64 or 128)) throw Unsupported(headDim);
        var name = pipelined ? $"prefill_attention_pipe_d{headDim}" : $"prefill_attention_d{headDim}";
        var k = _module.Kernel(name);
        // Pipelined: two K and two V tiles of 64 keys (rows padded by 8) in dynamic shared memory, above the 48 KB default.
        int smem = pipelined ? 4 * 64 * (headDim + 8) * 2 : 0;
        if (pipelined && _smemRaised.Add(name)) k.SetMaxDynamicSharedMemory(smem);
        k.Launch(new Dim3((uint)tileCount, (uint)heads), 128, smem, s, qkv, kc, vc, blockTable, maxPages, pageSize, tiles,
            seqStart, seqNew, seqCtx, output, heads, kvHeads, ScaleLog2(headDim));
    }

    public void DecodeAttention(CudaStream s, int headDim, ulong qkv, ulong kc, ulong vc, ulong blockTable, int maxPages, int pageSize,
        ulong dseq, int decodeCount, ulong seqStart, ulong seqCtx, ulong partO, ulong partMl, int splits, int chunk, ulong output,
        int heads, int kvHeads, DecodeKernel variant = DecodeKernel.SinglePass)
    {
        int g = heads / kvHeads;
        if (g > 8) throw new NotSupportedException($"decode attention supports up to 8 query heads per kv head, got {g}");
        if (headDim is not (64 or 128)) throw Unsupported(headDim);
        if (variant == DecodeKernel.SinglePass && g is 1 or 2 or 4 or 8)
            _module.Kernel($"decode_attention_v2_d{headDim}_g{g}").Launch(new Dim3((uint)decodeCount, (uint)kvHeads, (uint)splits), 128, 0, s,
                qkv, kc, vc, blockTable, maxPages, pageSize, dseq, seqStart, seqCtx, partO, partMl, splits, chunk, heads, kvHeads, ScaleLog2(headDim));
        else
        {
            int smem = (2 * 8 * headDim + 8 * chunk) * 4;
            _module.Kernel($"decode_attention_d{headDim}").Launch(new Dim3((uint)decodeCount, (uint)kvHeads, (uint)splits), 128, smem, s,
                qkv, kc, vc, blockTable, maxPages, pageSize, dseq, seqStart, seqCtx, partO, partMl, splits, chunk, heads, kvHeads, ScaleLog2(headDim));
        }
        _module.Kernel("decode_combine").Launch(new Dim3((uint)decodeCount, (uint)heads), headDim, 0, s, partO, partMl, dseq, seqStart,
            output, splits, heads, headDim);
    }

    /// <summary>
    /// Work-list decode attention: <paramref name="work"/> is the device copy of <see cref="DecodeWork.Fill"/>'s table,
    /// filled for <paramref name="itemHeads"/> (<see cref="DecodeWork.ItemHeads"/>); partials need as many rows as its
    /// chunks × heads (<see cref="DecodeWork.MaxChunks"/> bounds them). The grid depends only on the decode count.
    /// <paramref name="kernel"/> has no default: the serving engine once left it out and served the CUDA-core kernel
    /// against a profile measured with tensor cores (decode iterations 15 % slower than priced, caught by `joules validate`).
    /// </summary>
    public void DecodeAttentionWorkList(CudaStream s, int headDim, ulong qkv, ulong kc, ulong vc, ulong blockTable, int maxPages, int pageSize,
        ulong dseq, int decodeCount, ulong seqStart, ulong seqCtx, ulong work, int multiprocessors, ulong partO, ulong partMl, ulong output,
        int heads, int kvHeads, int itemHeads, DecodeKernel kernel)
    {
        if (!kernel.UsesWorkList()) throw new ArgumentException($"{DecodeKernels.Names[kernel]} is not a work-list kernel", nameof(kernel));
        bool tensorCores = kernel == DecodeKernel.TensorCore;
        if (itemHeads < kvHeads || itemHeads % kvHeads != 0 || heads % itemHeads != 0)
            throw new ArgumentException($"{itemHeads} item heads do not split {kvHeads} kv heads of {heads} query heads evenly", nameof(itemHeads));
        int g = heads / itemHeads;
        if (tensorCores ? g > DecodeKernels.TensorCoreMaxGroup : g is not (1 or 2 or 4 or 8))
            throw new NotSupportedException($"decode attention supports {(tensorCores ? $"up to {DecodeKernels.TensorCoreMaxGroup}" : "1, 2, 4 or 8")} query heads per item, got {g}");
        if (headDim is not (64 or 128)) throw Unsupported(headDim);
        var grid = (uint)DecodeWork.Grid(decodeCount, itemHeads, multiprocessors);
        _module.Kernel(tensorCores ? $"decode_attention_tc_d{headDim}" : $"decode_attention_wl_d{headDim}_g{g}_u4").Launch(new Dim3(grid), 128, 0, s,
            qkv, kc, vc, blockTable, maxPages, pageSize, dseq, seqStart, seqCtx, work, decodeCount, partO, partMl, heads, itemHeads, itemHeads / kvHeads, ScaleLog2(headDim));
        _module.Kernel("decode_combine_wl").Launch(new Dim3((uint)decodeCount, (uint)heads), headDim, 0, s, partO, partMl, dseq, seqStart, work,
            output, heads, headDim);
    }

    /// <summary>Most rows of x the streaming GEMV kernels take (one kernel per row count).</summary>
    public const int GemvMaxRows = 4;

    /// <summary>
    /// y[t] (+)= f(x[rows?[t] ?? t])·Wᵀ for t in [0, <paramref name="tokens"/>) with W row-major [n][k], streaming each
    /// weight row once (decode-sized batches, where the product is a weight read): f per <paramref name="input"/>
    /// (RMSNorm with <paramref name="norm"/> and <paramref name="eps"/>; SwiGLU of rows [gate | up] of width 2k).
    /// </summary>
    public void Gemv(CudaStream s, GemvInput input, ulong x, ulong rows, ulong norm, float eps, ulong w, ulong y, int tokens, int n, int k, bool accumulate)
    {
        if (tokens is < 1 or > GemvMaxRows) throw new ArgumentOutOfRangeException(nameof(tokens), $"the GEMV kernels take 1 to {GemvMaxRows} rows, got {tokens}");
        if (k % 8 != 0) throw new ArgumentException($"the GEMV kernels read 8 values at a time: k = {k} is not a multiple of 8", nameof(k));
        _module.Kernel($"gemv_t{tokens}_m{(int)input}").Launch(new Dim3((uint)((n + 3) / 4)), 256, 0, s, x, rows, norm, eps, w, y, n, k, accumulate ? 1 : 0);
    }

    public void SiluMul(CudaStream s, ulong gu, ulong output, int tokens, int ffn) =>
        _module.Kernel("silu_mul").Launch(new Dim3(Blocks((long)tokens * ffn / 8, 256, 8192)), 256, 0, s, gu, output, tokens, ffn);

    public void Argmax(CudaStream s, ulong logits, int rows, int vocab, ulong output) =>
        _module.Kernel("argmax_rows").Launch(rows, 1024, 0, s, logits, vocab, output);

    /// <summary>Greedy ids over logits all-gathered from <paramref name="tp"/> ranks (rank-major [tp][rows][vocabShard]), ids past <paramref name="vocab"/> ignored.</summary>
    public void ArgmaxGathered(CudaStream s, ulong gathered, int rows, int vocabShard, int tp, int vocab, ulong output) =>
        _module.Kernel("argmax_gathered").Launch(rows, 1024, 0, s, gathered, rows, vocabShard, tp, vocab, output);

    /// <summary>log2(e)/sqrt(d): softmax runs in base 2 so the kernels use exp2.</summary>
    public static float ScaleLog2(int headDim) => (float)(1.4426950408889634 / Math.Sqrt(headDim));

    private static NotSupportedException Unsupported(int d) => new($"attention kernels support head_dim 64 and 128, not {d}");

    public void Dispose() => _module.Dispose();
}
