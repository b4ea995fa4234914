namespace Joules.Simulation.Kernel;

/// <summary>Something that reacts when one of its scheduled events fires (the callback form of a SimSharp process).</summary>
public interface IEventTarget
{
    /// <summary>Called at the event's time with the argument it was scheduled with; <see cref="SimEnvironment.Now"/> is the event time.</summary>
    void OnEvent(SimEnvironment env, long arg);
}

/// <summary>One scheduled event: fire <see cref="Target"/> at <see cref="Time"/>; ties break on <see cref="Priority"/>, then on the order of scheduling.</summary>
public readonly struct ScheduledEvent(double time, int priority, long sequence, IEventTarget target, long arg)
{
    public readonly double Time = time;
    public readonly int Priority = priority;
    public readonly long Sequence = sequence;
    public readonly IEventTarget Target = target;
    public readonly long Arg = arg;

    public bool Before(in ScheduledEvent other) =>
        Time < other.Time || (Time == other.Time && (Priority < other.Priority || (Priority == other.Priority && Sequence < other.Sequence)));
}

/// <summary>Binary min-heap of events ordered by (time, priority, sequence): a total order, so runs are deterministic.</summary>
public sealed class EventQueue
{
    private ScheduledEvent[] _heap = new ScheduledEvent[64];
    private int _count;

    public int Count => _count;

    public ref readonly ScheduledEvent Peek()
    {
        if (_count == 0) throw new InvalidOperationException("event queue is empty");
        return ref _heap[0];
    }

    public void Push(in ScheduledEvent e)
    {
        if (_count == _heap.Length) Array.Resize(ref _heap, _heap.Length * 2);
        var i = _count++;
        while (i > 0)
        {
            var parent = (i - 1) >> 1;
            if (!e.Before(_heap[parent])) break;
            _heap[i] = _heap[parent];
            i = parent;
        }
        _heap[i] = e;
    }

    public ScheduledEvent Pop()
    {
        if (_count == 0) throw new InvalidOperationException("event queue is empty");
        var top = _heap[0];
        var last = _heap[--_count];
        _heap[_count] = default;
        if (_count > 0)
        {
            var i = 0;
            while (true)
            {
                var child = 2 * i + 1;
                if (child >= _count) break;
                if (child + 1 < _count && _heap[child + 1].Before(_heap[child])) child++;
                if (!_heap[child].Before(last)) break;
                _heap[i] = _heap[child];
                i = child;
            }
            _heap[i] = last;
        }
        return top;
    }
}
