using Joules.Cuda;
using static Joules.Cuda.CudnnEnum;

namespace Joules.Calibration.Engine;

/// <summary>Which kernel runs the attention of prompts that start an iteration with no cached context.</summary>
public enum PrefillAttention
{
    /// <summary>Joules' own flash-style kernel (tensor cores through mma.sync, cp.async double buffering).</summary>
    Joules,
    /// <summary>cuDNN's fused flash attention (the backend graph PyTorch's cuDNN SDPA builds), ragged over the iteration's fresh prompts.</summary>
    Cudnn,
}

/// <summary>Names of <see cref="PrefillAttention"/> values on the command line.</summary>
public static class PrefillAttentions
{
    public static IReadOnlyDictionary<PrefillAttention, string> Names { get; } = new Dictionary<PrefillAttention, string>
    {
        [PrefillAttention.Joules] = "joules", [PrefillAttention.Cudnn] = "cudnn",
    };

    public static PrefillAttention Parse(string name) =>
        Names.FirstOrDefault(kv => kv.Value == name) is { Value: not null } hit ? hit.Key
            : throw new ArgumentException($"unknown prefill attention '{name}' (expected {string.Join(", ", Names.Values)})");
}

/// <summary>
/// Causal attention of a batch of fresh prompts (no cached context) through cuDNN's fused flash attention, read
/// straight from the engine's token-major QKV rows and written into its attention rows: one ragged batch, each prompt
/// found by its first token (ragged offsets) and masked to its length (padding mask), grouped query heads native.
/// </summary>
/// <remarks>
/// The graph is the one cudnn-frontend builds for <c>sdpa(..., causal, padding mask)</c> and that PyTorch's cuDNN SDPA
/// backend ran on the H200 (recorded by calibration/device/cudnn_recipe.py): Q·Kᵀ with per-sequence lengths, scale,
/// padding mask, top-left causal mask, softmax as max/sub/exp/sum/div (its statistics computed and left virtual, as
/// the frontend does for inference), P·V. cuDNN recognises the pattern and runs one fused kernel.
/// </remarks>
internal sealed class CudnnPrefillAttention : IDisposable
{
    private const long UidQ = 1, UidK = 2, UidV = 3, UidO = 4, UidScale = 5, UidSeqQ = 6, UidSeqKv = 7, UidQOff = 8, UidOOff = 9,
        UidMasked = 10, UidMasked2 = 11, Virtual = 100;
    private readonly CudnnGraph _graph = new();
    private readonly DeviceBuffer? _meta;
    private readonly DeviceBuffer _workspace;

    /// <param name="handle">The engine's cuDNN handle.</param>
    /// <param name="qkv">Device address of the QKV rows ([token][(heads + 2 kvHeads) x headDim] bf16, RoPE applied).</param>
    /// <param name="output">Device address of the attention rows ([token][heads x headDim] bf16).</param>
    /// <param name="heads">Query heads (of this shard).</param>
    /// <param name="kvHeads">Key/value heads (of this shard).</param>
    /// <param name="headDim">Head size.</param>
    /// <param name="starts">First token of each prompt in those rows.</param>
    /// <param name="lengths">Tokens of each prompt.</param>
    public CudnnPrefillAttention(CudnnHandle handle, ulong qkv, ulong output, int heads, int kvHeads, int headDim, int[] starts, int[] lengths)
    {
        int b = starts.Length;
        if (b == 0 || lengths.Length != b) throw new ArgumentException("one length per prompt, at least one prompt");
        long s = lengths.Max(), d = headDim, w = (long)(heads + 2 * kvHeads) * headDim, ow = (long)heads * headDim, h = heads, hk = kvHeads;
        // Prompts of one length back to back are a plain batch: the graph PyTorch runs, without per-prompt lengths
        // (the padding mask and ragged offsets cost 10-20 % at 1x2048 to 8x2048 on the H200).
        Ragged = Enumerable.Range(0, b).Any(i => lengths[i] != s || starts[i] != starts[0] + i * s);
        var g = _graph;
        long[] One(long n) => [n, 1, 1, 1];
        long[] Unit = [1, 1, 1, 1];
        nint seqQ = 0, seqKv = 0, qOff = 0, oOff = 0;
        ulong qBase = qkv, oBase = output;
        if (Ragged)
        {
            // Device metadata: lengths (twice: queries and keys), then the ragged offsets of Q/K/V rows and of O rows (b + 1 each).
            var meta = new int[2 * b + 2 * (b + 1)];
            for (var i = 0; i < b; i++) { meta[i] = lengths[i]; meta[b + i] = lengths[i]; }
            int qo = 2 * b, oo = qo + b + 1;
            for (var i = 0; i < b; i++)
            {
                meta[qo + i] = checked((int)(starts[i] * w));
                meta[oo + i] = checked((int)(starts[i] * ow));
            }
            meta[qo + b] = checked((int)((starts[^1] + lengths[^1]) * w));
            meta[oo + b] = checked((int)((starts[^1] + lengths[^1]) * ow));
            _meta = new DeviceBuffer(meta.Length * 4L);
            _meta.Upload<int>(meta);
            seqQ = g.Tensor(UidSeqQ, DataInt32, One(b), Unit);
            seqKv = g.Tensor(UidSeqKv, DataInt32, One(b), Unit);
            qOff = g.Tensor(UidQOff, DataInt32, One(b + 1), Unit);
            oOff = g.Tensor(UidOOff, DataInt32, One(b + 1), Unit);
            g.Bind(UidSeqQ, _meta.Ptr);
            g.Bind(UidSeqKv, _meta.At(b * 4L));
            g.Bind(UidQOff, _meta.At(qo * 4L));
            g.Bind(UidOOff, _meta.At(oo * 4L));
        }
        else
        {
            qBase += (ulong)(starts[0] * w * 2);
            oBase += (ulong)(starts[0] * ow * 2);
        }
        var q = g.Tensor(UidQ, DataBfloat16, [b, h, s, d], [s * w, d, w, 1], raggedOffset: qOff);
        // Kᵀ as the backend's first matmul takes it: dims (b, hk, d, s) over the same rows.
        var kt = g.Tensor(UidK, DataBfloat16, [b, hk, d, s], [s * w, d, 1, w], raggedOffset: qOff);
        var v = g.Tensor(UidV, DataBfloat16, [b, hk, s, d], [s * w, d, w, 1], raggedOffset: qOff);
        var o = g.Tensor(UidO, DataBfloat16, [b, h, s, d], [s * ow, d, ow, 1], raggedOffset: oOff);
        g.Bind(UidQ, qBase);
        g.Bind(UidK, qBase + (ulong)(h * d * 2));
        g.Bind(UidV, qBase + (ulong)((h + hk) * d * 2));
        g.Bind(UidO, oBase);
        var scale = g.Scalar(UidScale, 1f / MathF.Sqrt(headDim));
        var lowest = Ragged ? g.Scalar(UidMasked, float.MinValue) : 0;
        var lowest2 = g.Scalar(UidMasked2, float.MinValue);

        long next = Virtual;
        long[] sDims = [b, h, s, s], sStrides = [h * s * s, s * s, s, 1], rDims = [b, h, s, 1], rStrides = [h * s, s, 1, 1];
        nint Scores(int type) => g.Tensor(next++, type, sDims, sStrides, isVirtual: true);
        nint Rows() => g.Tensor(next++, DataFloat, rDims, rStrides, isVirtual: true);

        var s1 = Scores(DataFloat);
        g.Matmul(q, kt, s1, mOverride: seqQ, nOverride: seqKv, padding: Ragged ? 0.0 : null);
        var s2 = Scores(DataFloat);
        g.Pointwise(PwMul, DataFloat, s1, s2, b: scale);
        var s3 = s2;
        if (Ragged)
        {
            // Padding mask: rows and columns past each prompt's length.
            var row = Scores(DataInt32); g.Pointwise(PwGenIndex, DataInt32, s2, row, axis: 2);
            var col = Scores(DataInt32); g.Pointwise(PwGenIndex, DataInt32, s2, col, axis: 3);
            var rowIn = Scores(DataBoolean); g.Pointwise(PwCmpLt, DataBoolean, row, rowIn, b: seqQ);
            var colIn = Scores(DataBoolean); g.Pointwise(PwCmpLt, DataBoolean, col, colIn, b: seqKv);
            var inside = Scores(DataBoolean); g.Pointwise(PwLogicalAnd, DataBoolean, rowIn, inside, b: colIn);
            s3 = Scores(DataFloat); g.Pointwise(PwBinarySelect, DataFloat, s2, s3, b: lowest, t: inside);
        }
        // Causal mask, top-left aligned (a fresh prompt's queries and keys are the same tokens).
        var row2 = Scores(DataInt32); g.Pointwise(PwGenIndex, DataFloat, s3, row2, axis: 2);
        var col2 = Scores(DataInt32); g.Pointwise(PwGenIndex, DataFloat, s3, col2, axis: 3);
        var causal = Scores(DataBoolean); g.Pointwise(PwCmpGe, DataBoolean, row2, causal, b: col2);
        var s4 = Scores(DataFloat); g.Pointwise(PwBinarySelect, DataFloat, s3, s4, b: lowest2, t: causal);
        // Softmax with its statistics (max + log of the sum), as the frontend lowers it.
        var max = Rows(); g.Reduction(ReduceMax, s4, max);
        var shifted = Scores(DataFloat); g.Pointwise(PwSub, DataFloat, s4, shifted, b: max);
        var exp = Scores(DataFloat); g.Pointwise(PwExp, DataFloat, shifted, exp);
        var sum = Rows(); g.Reduction(ReduceAdd, exp, sum);
        var log = Rows(); g.Pointwise(PwLog, DataFloat, sum, log);
        var stats = Rows(); g.Pointwise(PwAdd, DataFloat, max, stats, b: log);
        var p = Scores(DataBfloat16); g.Pointwise(PwDiv, DataFloat, exp, p, b: sum);
        g.Matmul(p, v, o, mOverride: seqQ, kOverride: seqKv);
        g.Plan(handle);
        _workspace = new DeviceBuffer(Math.Max(256, g.WorkspaceBytes));
        Handle = handle;
        Prompts = b;
    }

    public CudnnHandle Handle { get; }
    /// <summary>Prompts in the batch.</summary>
    public int Prompts { get; }
    /// <summary>Whether the prompts differ in length (or are not back to back), so the graph carries per-prompt lengths and ragged offsets.</summary>
    public bool Ragged { get; }
    /// <summary>The engine cuDNN chose.</summary>
    public string EngineLabel => _graph.EngineLabel;

    /// <summary>Enqueues the attention on the handle's stream.</summary>
    public void Enqueue() => _graph.Execute(Handle, _workspace.Ptr);

    public void Dispose()
    {
        _graph.Dispose();
        _workspace.Dispose();
        _meta?.Dispose();
    }
}
