using Joules.Profiles.Interconnect;

namespace Joules.Profiles.Roofline;

/// <summary>
/// The analytic "naive estimate": an iteration takes as long as the slower of its math at peak
/// dense bf16 throughput and its memory traffic at peak bandwidth, plus tensor-parallel all-reduce
/// time over the interconnect; power sits between idle and TDP in proportion to how busy the chip is.
/// Datasheet ceilings make it optimistic: real kernels are slower, so real energy is higher.
/// </summary>
/// <remarks>
/// Per GPU of an instance of tensor-parallel degree tp, for an iteration of N tokens over S sequences:
/// <list type="bullet">
/// <item>GEMM FLOPs = 2 * N * (layer linear parameters per GPU) * layers + 2 * S * hidden * vocab/tp (LM head, one sampled position per sequence).</item>
/// <item>Attention FLOPs = 4 * pairs * head_dim * heads/tp * layers, pairs = prefill query-key pairs + decode context tokens.</item>
/// <item>Bytes = weights read once (layers and LM head; the embedding table only for the N rows gathered)
///   + KV read for every cached token attended to + KV written for the N new tokens
///   + activations (each GEMM's input and output once per token and layer).</item>
/// <item>All-reduce: 2 per layer of N * hidden elements, priced by an <see cref="IAllReduceModel"/> (by default the GPU card's alpha-beta model, the same one the measured-profile model adds to its iterations).</item>
/// <item>Power per GPU = idle + (TDP - idle) * (max(t_compute, t_memory) + CommUtilisation * t_comm) / t.</item>
/// </list>
/// </remarks>
public sealed class RooflineCostModel : IDecodeRunCostModel
{
    private readonly ShardWork _work;
    private readonly double _peakFlops;
    private readonly double _bandwidth;
    private readonly TensorParallelComm? _comm;
    private readonly double _gpuIdle;
    private readonly double _gpuDynamic;

    /// <summary>Builds the model for <paramref name="model"/> split over <paramref name="tensorParallel"/> GPUs of type <paramref name="gpu"/>.</summary>
    /// <param name="gpu">Datasheet figures.</param>
    /// <param name="model">Model architecture.</param>
    /// <param name="tensorParallel">GPUs per instance.</param>
    /// <param name="allReduce">Prices one all-reduce; by default <see cref="AlphaBetaAllReduce.ForGpu"/> of <paramref name="gpu"/>.</param>
    public RooflineCostModel(GpuSpec gpu, ModelCard model, int tensorParallel = 1, IAllReduceModel? allReduce = null)
    {
        ArgumentNullException.ThrowIfNull(gpu);
        ArgumentNullException.ThrowIfNull(model);
        model.Validate();
        if (gpu.Bf16DenseTflops <= 0 || gpu.MemoryBandwidthGBs <= 0)
            throw new ArgumentException($"GPU '{gpu.Name}': peak TFLOPS and memory bandwidth must be positive");
        if (gpu.TdpWatts < gpu.IdleWatts)
            throw new ArgumentException($"GPU '{gpu.Name}': TDP ({gpu.TdpWatts} W) is below idle power ({gpu.IdleWatts} W)");
        Gpu = gpu;
        Model = model;
        Shard = model.Shard(tensorParallel);
        TensorParallel = tensorParallel;

        var s = Shard;
        _work = new ShardWork(s);
        _peakFlops = gpu.Bf16DenseTflops * 1e12 * ComputeEfficiency;
        _bandwidth = gpu.MemoryBandwidthGBs * 1e9 * MemoryEfficiency;
        _comm = tensorParallel > 1 ? new TensorParallelComm(allReduce ?? AlphaBetaAllReduce.ForGpu(gpu), model, tensorParallel) : null;
        _gpuIdle = gpu.IdleWatts;
        _gpuDynamic = gpu.TdpWatts - gpu.IdleWatts;
    }

    /// <summary>Fraction of datasheet peak FLOPS assumed reachable: 1 (the naive estimate).</summary>
    public const double ComputeEfficiency = 1.0;

    /// <summary>Fraction of datasheet memory bandwidth assumed reachable: 1 (the naive estimate).</summary>
    public const double MemoryEfficiency = 1.0;

    /// <summary>Utilisation the chip is charged with while it waits on the interconnect.</summary>
    public const double CommUtilisation = 0.3;

    public string Name => "roofline";
    public GpuSpec Gpu { get; }
    public ModelCard Model { get; }
    public ModelShard Shard { get; }
    public int TensorParallel { get; }
    public double IdleWatts => _gpuIdle * TensorParallel;

    /// <summary>How this model counts FLOPs and bytes per stage (shared with the derived-profile code).</summary>
    public ShardWork Work => _work;

    /// <summary>Per-GPU FLOPs of an iteration.</summary>
    public double Flops(in IterationShape shape) => _work.Flops(shape);

    /// <summary>Per-GPU bytes moved to and from HBM in an iteration.</summary>
    public double Bytes(in IterationShape shape) => _work.Bytes(shape);

    /// <summary>Seconds spent in tensor-parallel all-reduce (0 for tp = 1).</summary>
    public double CommSeconds(in IterationShape shape) => _comm?.Seconds(shape.TotalTokens) ?? 0;

    public IterationCost Estimate(in IterationShape shape)
    {
        if (shape.IsEmpty) return default;
        var tc = Flops(shape) / _peakFlops;
        var tm = Bytes(shape) / _bandwidth;
        var tx = CommSeconds(shape);
        var roof = Math.Max(tc, tm);
        var t = roof + tx;
        var watts = _gpuIdle + _gpuDynamic * (roof + CommUtilisation * tx) / t;
        return new IterationCost(t, watts * t * TensorParallel)
        {
            CommSeconds = tx,
            CommJoules = TensorParallel * (_gpuIdle + _gpuDynamic * CommUtilisation) * tx,
        };
    }

    /// <summary>Closed form of a decode run: each step's compute and memory times are linear in the step index, so their maximum sums in two arithmetic series.</summary>
    public IterationCost EstimateDecodeRun(int batch, long contextSum, long steps)
    {
        if (steps <= 0 || batch <= 0) return default;
        var first = IterationShape.Decode(batch, 0) with { DecodeContextTokens = contextSum };
        var tc0 = Flops(first) / _peakFlops;
        var tm0 = Bytes(first) / _bandwidth;
        var dtc = _work.AttentionFlopsPerPair * batch / _peakFlops;
        var dtm = _work.KvBytesPerToken * batch / _bandwidth;
        var sumRoof = SumOfMax(tc0, dtc, tm0, dtm, steps);
        var tx = CommSeconds(first);
        var sumT = sumRoof + steps * tx;
        var joules = TensorParallel * (_gpuIdle * sumT + _gpuDynamic * (sumRoof + CommUtilisation * steps * tx));
        return new IterationCost(sumT, joules)
        {
            CommSeconds = steps * tx,
            CommJoules = TensorParallel * (_gpuIdle + _gpuDynamic * CommUtilisation) * steps * tx,
        };
    }

    /// <summary>Sum over j in [0, k) of max(a1 + b1 j, a2 + b2 j).</summary>
    public static double SumOfMax(double a1, double b1, double a2, double b2, long k)
    {
        static double Line(double a, double b, long lo, long hi) => (hi - lo) * a + b * ((hi - lo) * (double)(lo + hi - 1) / 2.0);
        if (b1 == b2) return Line(Math.Max(a1, a2), b1, 0, k);
        var cross = (a2 - a1) / (b1 - b2);
        var split = (long)Math.Clamp(Math.Ceiling(cross), 0, k);
        double sum = 0;
        if (split > 0)
        {
            var mid = (split - 1) / 2.0;
            sum += a1 + b1 * mid >= a2 + b2 * mid ? Line(a1, b1, 0, split) : Line(a2, b2, 0, split);
        }
        if (split < k)
        {
            var mid = (split + k - 1) / 2.0;
            sum += a1 + b1 * mid >= a2 + b2 * mid ? Line(a1, b1, split, k) : Line(a2, b2, split, k);
        }
        return sum;
    }
}
