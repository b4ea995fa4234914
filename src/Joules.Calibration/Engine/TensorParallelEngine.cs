using Joules.Cuda;
using Joules.Profiles;

namespace Joules.Calibration.Engine;

/// <summary>A whole tensor-parallel instance on several GPUs of this host: one <see cref="TransformerEngine"/> rank per GPU, joined by NCCL.</summary>
/// <remarks>
/// One process, one thread and one stream per GPU (<see cref="RankThreads"/>). Each rank prepares, runs its eager
/// pass and captures its CUDA graph on its own thread, NCCL collectives included (NCCL supports stream capture).
/// With graphs, iterations are launched from the caller's thread, rank after rank: a graph launch never waits on
/// a peer, so no group call is needed. Without graphs, every rank's thread launches its own kernels.
/// With one GPU this is the same code path over a communicator of one rank.
/// </remarks>
public sealed class TensorParallelEngine : IEngineInstance
{
    private readonly NcclCommunicator[] _comms;
    private readonly RankThreads _threads;
    private readonly TransformerEngine[] _ranks;
    private bool _broken;

    /// <summary>Builds the instance of <paramref name="model"/> at degree <paramref name="tp"/> on CUDA devices <paramref name="devices"/> (rank i on devices[i]).</summary>
    public TensorParallelEngine(ModelCard model, int tp, IReadOnlyList<int> devices, EngineOptions? options = null)
    {
        Layout = new TensorParallelLayout(model, tp);
        if (devices.Count != tp) throw new ArgumentException($"a tp={tp} instance needs {tp} GPUs, {devices.Count} given");
        var available = Cu.DeviceCount();
        if (devices.Any(d => d < 0 || d >= available))
            throw new Measurement.CalibrationException($"a tp={tp} instance needs CUDA devices {string.Join(",", devices)}, but this machine has {available} GPU(s)");
        Options = options ?? new EngineOptions();
        NcclVersion = Nccl.Version();
        _comms = NcclCommunicator.InitAll(devices);
        _threads = new RankThreads(tp);
        _ranks = new TransformerEngine[tp];
        try
        {
            _threads.Run(r => _ranks[r] = new TransformerEngine(model, Options with { Device = devices[r] }, new TensorParallelRank(r, Layout, _comms[r])));
            // Ranks on one model of GPU fall back to Joules' prefill kernel together (auto, when cuDNN cannot build the graphs).
            if (_ranks[0].CudnnFallback is not null) Options = Options with { PrefillAttention = PrefillAttention.Joules };
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public TensorParallelLayout Layout { get; }
    public EngineOptions Options { get; }
    /// <summary>Why prefill attention runs Joules' kernel although cuDNN loads (rank 0's <see cref="TransformerEngine.CudnnFallback"/>).</summary>
    public string? CudnnFallback => _ranks[0].CudnnFallback;
    public string NcclVersion { get; }
    public ModelShard Shard => Layout.Shard;
    public int Gpus => _ranks.Length;
    public bool WholeInstance => true;
    public IReadOnlyList<EngineDevice> Devices => _ranks.Select(r => r.Devices[0]).ToArray();
    public string DeviceName => _ranks[0].DeviceName;
    public bool UsesGraph => _ranks.All(r => r.UsesGraph);
    public IterationComposition? Composition => _ranks[0].Composition;
    /// <summary>The rank engines (internal: the self-test reads and writes their buffers).</summary>
    internal IReadOnlyList<TransformerEngine> Ranks => _ranks;

    public bool Fits(IterationComposition composition, out string? reason)
    {
        foreach (var r in _ranks)
            if (!r.Fits(composition, out reason))
            {
                reason = $"GPU {r.Options.Device}: {reason}";
                return false;
            }
        reason = null;
        return true;
    }

    public void Prepare(IterationComposition composition)
    {
        Ensure();
        RunOnRanks(r => _ranks[r].Prepare(composition));
    }

    public void Enqueue(int iterations)
    {
        Ensure();
        if (UsesGraph)
        {
            for (var i = 0; i < iterations; i++)
                foreach (var r in _ranks) r.Enqueue(1);
        }
        else RunOnRanks(r => _ranks[r].Enqueue(iterations));
    }

    public void Synchronize()
    {
        foreach (var r in _ranks) r.Synchronize();
    }

    public int[] NextTokens() => _ranks[0].NextTokens();

    /// <summary>Runs <paramref name="work"/> on every rank's thread; a failing rank aborts the communicators so that its peers return.</summary>
    internal void RunOnRanks(Action<int> work)
    {
        try
        {
            _threads.Run(work, onFailure: () => { _broken = true; foreach (var c in _comms) c.Abort(); });
        }
        catch
        {
            _broken = true;
            throw;
        }
    }

    private void Ensure()
    {
        if (_broken) throw new InvalidOperationException("this tensor-parallel instance failed earlier (its NCCL communicators were aborted); build a new one");
    }

    public void Dispose()
    {
        // Graphs that hold NCCL work go first, then the communicators, then the ranks' memory and contexts.
        try { _threads.Run(r => _ranks[r]?.ReleasePrepared()); }
        catch (Exception) { /* disposal frees what it can */ }
        NcclCommunicator.DestroyAll(_comms);
        try { _threads.Run(r => _ranks[r]?.Dispose()); }
        catch (Exception) { /* disposal frees what it can */ }
        _threads.Dispose();
    }
}
