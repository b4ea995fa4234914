namespace Joules.Simulation.Kernel;

/// <summary>
/// The simulation environment in the spirit of SimSharp: a simulated clock (seconds) and a queue of
/// future events. Nothing in it reads the wall clock; a run is a pure function of its inputs.
/// </summary>
public sealed class SimEnvironment
{
    private readonly EventQueue _queue = new();
    private long _sequence;

    /// <summary>Current simulated time in seconds.</summary>
    public double Now { get; private set; }

    /// <summary>Events processed so far.</summary>
    public long ProcessedEvents { get; private set; }

    public int PendingEvents => _queue.Count;

    /// <summary>Time of the next pending event, or +infinity when none is pending.</summary>
    public double NextEventTime => _queue.Count == 0 ? double.PositiveInfinity : _queue.Peek().Time;

    /// <summary>Schedules <paramref name="target"/> to fire at absolute time <paramref name="time"/> (not before now).</summary>
    public void ScheduleAt(double time, IEventTarget target, long arg = 0, int priority = 0)
    {
        if (!(time >= Now)) throw new ArgumentOutOfRangeException(nameof(time), $"cannot schedule at {time} s, before now ({Now} s)");
        _queue.Push(new ScheduledEvent(time, priority, _sequence++, target, arg));
    }

    /// <summary>A SimSharp-style timeout: fire <paramref name="target"/> after <paramref name="delay"/> seconds.</summary>
    public void Timeout(double delay, IEventTarget target, long arg = 0, int priority = 0) => ScheduleAt(Now + delay, target, arg, priority);

    /// <summary>
    /// Moves the clock forward without an event, for a process that keeps running inline because it knows
    /// no other event comes first. Only allowed strictly before the next pending event.
    /// </summary>
    public void AdvanceInline(double time)
    {
        if (time < Now || time >= NextEventTime)
            throw new InvalidOperationException($"inline advance to {time} s must lie in [now={Now}, next event={NextEventTime})");
        Now = time;
    }

    /// <summary>Processes the next event; false when none is left.</summary>
    public bool Step()
    {
        if (_queue.Count == 0) return false;
        var e = _queue.Pop();
        Now = e.Time;
        ProcessedEvents++;
        e.Target.OnEvent(this, e.Arg);
        return true;
    }

    /// <summary>Runs until no events remain or the next one lies after <paramref name="until"/>.</summary>
    public void Run(double until = double.PositiveInfinity)
    {
        while (_queue.Count > 0 && _queue.Peek().Time <= until) Step();
        if (!double.IsPositiveInfinity(until) && until > Now) Now = until;
    }
}
