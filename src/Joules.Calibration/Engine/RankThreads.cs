using System.Collections.Concurrent;

namespace Joules.Calibration.Engine;

/// <summary>One long-lived thread per GPU of a tensor-parallel instance, each running its rank's part of a step concurrently.</summary>
/// <remarks>
/// An NCCL call may wait on the host for its peers (first connection, graph capture), so the ranks of one
/// communicator must be driven concurrently: a thread per rank is NCCL's "one device per thread" pattern.
/// When a rank fails, <c>onFailure</c> runs once (the engine aborts its communicators there, so peers blocked in
/// NCCL return instead of waiting forever), and <see cref="Run"/> rethrows the first rank's error after all ranks end.
/// </remarks>
internal sealed class RankThreads : IDisposable
{
    private readonly BlockingCollection<Action>[] _queues;
    private readonly Thread[] _threads;

    public RankThreads(int ranks)
    {
        _queues = new BlockingCollection<Action>[ranks];
        _threads = new Thread[ranks];
        for (var r = 0; r < ranks; r++)
        {
            var q = _queues[r] = new BlockingCollection<Action>();
            _threads[r] = new Thread(() => { foreach (var a in q.GetConsumingEnumerable()) a(); }) { IsBackground = true, Name = $"joules-rank-{r}" };
            _threads[r].Start();
        }
    }

    public int Ranks => _queues.Length;

    /// <summary>Runs <paramref name="work"/>(rank) on every rank's thread at once and waits for all of them.</summary>
    public void Run(Action<int> work, Action? onFailure = null)
    {
        var errors = new Exception?[Ranks];
        var failed = 0;
        using var done = new CountdownEvent(Ranks);
        for (var r = 0; r < Ranks; r++)
        {
            var rank = r;
            _queues[r].Add(() =>
            {
                try { work(rank); }
                catch (Exception e)
                {
                    errors[rank] = e;
                    if (Interlocked.Exchange(ref failed, 1) == 0)
                        try { onFailure?.Invoke(); } catch (Exception) { /* the rank's own error is the one to report */ }
                }
                finally { done.Signal(); }
            });
        }
        done.Wait();
        var first = Array.FindIndex(errors, e => e != null);
        if (first < 0) return;
        var e0 = errors[first]!;
        if (Ranks == 1) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e0).Throw();
        throw new Measurement.CalibrationException($"GPU rank {first} of {Ranks} failed: {e0.Message}", e0);
    }

    public void Dispose()
    {
        foreach (var q in _queues) q.CompleteAdding();
        foreach (var t in _threads) t.Join();
        foreach (var q in _queues) q.Dispose();
    }
}
