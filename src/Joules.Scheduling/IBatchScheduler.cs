namespace Joules.Scheduling;

/// <summary>
/// A serving engine's batch scheduler: between two model iterations it decides which sequences run next
/// and how many tokens each. Pure: no clock, no cost model, no I/O, so the simulator (virtual time) and a
/// real-time server driving a GPU share the same code and make the same decisions.
/// </summary>
public interface IBatchScheduler
{
    SchedulerConfig Config { get; }
    SequencePool Sequences { get; }
    IKvCache Kv { get; }

    /// <summary>Queues a sequence already added to <see cref="Sequences"/>.</summary>
    void AddWaiting(int slot);

    /// <summary>Forms the next iteration into <paramref name="batch"/> (cleared first); an empty batch means nothing can run.</summary>
    void Schedule(ScheduledBatch batch);

    /// <summary>
    /// Records that the iteration in <paramref name="batch"/> ran: computed tokens advance, tokens are sampled and
    /// each entry's <see cref="ScheduledBatch.Outcome"/> is set. Finished sequences free their blocks but keep their
    /// slot until <see cref="ReleaseFinished"/>, so the caller can read them first.
    /// </summary>
    void Commit(ScheduledBatch batch);

    /// <summary>Returns every finished sequence of the last commit to the pool.</summary>
    void ReleaseFinished(ScheduledBatch batch);

    /// <summary>Removes a sequence wherever it is (a client went away): its blocks are freed and its slot released.</summary>
    void Abort(int slot);

    int RunningCount { get; }
    int WaitingCount { get; }
    /// <summary>The i-th running sequence in scheduling order.</summary>
    int Running(int i);
}
