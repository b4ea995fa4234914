using Joules.Calibration.Engine;
using Joules.Cuda;
using Joules.Profiles;

namespace Joules.Calibration.Collectives;

/// <summary>
/// The all-reduces of one tensor-parallel step as a workload the measurement protocol can run: each iteration is
/// <see cref="CallsPerIteration"/> bf16 sum all-reduces of (the composition's tokens x hidden) elements, back to back,
/// on every GPU, replayed from one CUDA graph per GPU as the engine replays its steps.
/// </summary>
/// <remarks>
/// Out of place (a send and a receive buffer) so repeated sums do not grow; the send buffer holds random bf16
/// values, never zeros. One thread per GPU prepares and captures (NCCL may wait on its peers there); iterations are
/// launched from the caller's thread, GPU after GPU.
/// </remarks>
public sealed class AllReduceWorkload : IIterationWorkload
{
    private const int Bf16 = 2;
    private readonly NcclCommunicator[] _comms;
    private readonly RankThreads _threads;
    private readonly CudaContext[] _ctx;
    private readonly CudaStream[] _streams;
    private readonly DeviceBuffer[] _send, _recv;
    private readonly CudaGraph?[] _graphs;
    private bool _broken;

    /// <param name="devices">CUDA ordinals, rank order.</param>
    /// <param name="hidden">Elements per token (the model's hidden size).</param>
    /// <param name="callsPerIteration">All-reduces per iteration (one step's: 2 x layers + 1).</param>
    /// <param name="maxTokens">Largest composition to be prepared (sizes the buffers).</param>
    /// <param name="useGraphs">Replay iterations from CUDA graphs (default) or launch every call.</param>
    public AllReduceWorkload(IReadOnlyList<int> devices, int hidden, int callsPerIteration, long maxTokens, bool useGraphs = true)
    {
        if (hidden < 1 || callsPerIteration < 1 || maxTokens < 1) throw new ArgumentException("hidden, calls per iteration and tokens must be positive");
        Hidden = hidden;
        CallsPerIteration = callsPerIteration;
        MaxTokens = maxTokens;
        UseGraphs = useGraphs;
        var n = devices.Count;
        NcclVersion = Nccl.Version();
        _comms = NcclCommunicator.InitAll(devices);
        _threads = new RankThreads(n);
        _ctx = new CudaContext[n];
        _streams = new CudaStream[n];
        _send = new DeviceBuffer[n];
        _recv = new DeviceBuffer[n];
        _graphs = new CudaGraph?[n];
        long bytes = maxTokens * hidden * Bf16;
        try
        {
            Run(r =>
            {
                _ctx[r] = new CudaContext(devices[r]);
                _streams[r] = new CudaStream();
                _send[r] = new DeviceBuffer(bytes);
                _recv[r] = new DeviceBuffer(bytes);
                FillRandom(_send[r], (uint)(r + 1));
            });
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public int Hidden { get; }
    public int CallsPerIteration { get; }
    public long MaxTokens { get; }
    public bool UseGraphs { get; }
    public string NcclVersion { get; }
    public int Ranks => _ctx.Length;
    /// <summary>Each GPU's context, rank order (for its telemetry).</summary>
    public IReadOnlyList<CudaContext> Contexts => _ctx;
    /// <summary>Elements of each all-reduce of the prepared composition.</summary>
    public long Count { get; private set; }

    private static void FillRandom(DeviceBuffer b, uint seed)
    {
        // 1 MiB of random bf16 values in [-1, 1), repeated over the buffer.
        var rnd = new Random((int)seed);
        var block = new ushort[1 << 19];
        for (var i = 0; i < block.Length; i++) block[i] = (ushort)(BitConverter.SingleToUInt32Bits((float)(rnd.NextDouble() * 2 - 1)) >> 16);
        for (long off = 0; off < b.Bytes; off += block.Length * 2L)
        {
            var n = (int)Math.Min(block.Length, (b.Bytes - off) / 2);
            if (n > 0) b.Upload<ushort>(block.AsSpan(0, n), off);
        }
    }

    public bool Fits(IterationComposition composition, out string? reason)
    {
        var t = composition.Shape.TotalTokens;
        reason = t < 1 ? "no tokens" : t > MaxTokens ? $"{t} tokens exceed the {MaxTokens} the buffers were sized for" : null;
        return reason is null;
    }

    public void Prepare(IterationComposition composition)
    {
        Ensure();
        if (!Fits(composition, out var why)) throw new InvalidOperationException($"composition does not fit: {why}");
        Count = composition.Shape.TotalTokens * Hidden;
        Run(r =>
        {
            _ctx[r].MakeCurrent();
            _graphs[r]?.Dispose();
            _graphs[r] = null;
            Calls(r);                      // eager: NCCL connects for this size outside capture
            _streams[r].Synchronize();
            if (!UseGraphs) return;
            _streams[r].BeginCapture();
            try { Calls(r); }
            catch
            {
                try { _streams[r].EndCapture().Dispose(); } catch (CudaException) { }
                throw;
            }
            _graphs[r] = _streams[r].EndCapture();
            _graphs[r]!.Launch(_streams[r]);
            _streams[r].Synchronize();
        });
    }

    private void Calls(int r)
    {
        for (var i = 0; i < CallsPerIteration; i++) _comms[r].AllReduceSumBf16(_send[r].Ptr, _recv[r].Ptr, Count, _streams[r]);
    }

    public void Enqueue(int iterations)
    {
        Ensure();
        if (UseGraphs)
        {
            for (var i = 0; i < iterations; i++)
                for (var r = 0; r < Ranks; r++)
                {
                    _ctx[r].MakeCurrent();
                    _graphs[r]!.Launch(_streams[r]);
                }
        }
        else Run(r => { _ctx[r].MakeCurrent(); for (var i = 0; i < iterations; i++) Calls(r); });
    }

    public void Synchronize()
    {
        for (var r = 0; r < Ranks; r++)
        {
            _ctx[r].MakeCurrent();
            _streams[r].Synchronize();
        }
    }

    private void Run(Action<int> work)
    {
        try { _threads.Run(work, onFailure: () => { _broken = true; foreach (var c in _comms) c.Abort(); }); }
        catch
        {
            _broken = true;
            throw;
        }
    }

    private void Ensure()
    {
        if (_broken) throw new InvalidOperationException("the all-reduce workload failed earlier (its NCCL communicators were aborted)");
    }

    public void Dispose()
    {
        try
        {
            _threads.Run(r =>
            {
                if (_ctx[r] is null) return;
                _ctx[r].MakeCurrent();
                _streams[r]?.Synchronize();
                _graphs[r]?.Dispose();
                _graphs[r] = null;
            });
        }
        catch (Exception) { /* disposal frees what it can */ }
        NcclCommunicator.DestroyAll(_comms);
        try
        {
            _threads.Run(r =>
            {
                if (_ctx[r] is null) return;
                _ctx[r].MakeCurrent();
                _send[r]?.Dispose();
                _recv[r]?.Dispose();
                _streams[r]?.Dispose();
                _ctx[r].Dispose();
            });
        }
        catch (Exception) { /* disposal frees what it can */ }
        _threads.Dispose();
    }
}
