namespace Joules.Scheduling;

/// <summary>A growable ring buffer of sequence slots with push and pop at both ends (the waiting queue: preempted requests go back to its head).</summary>
public sealed class SlotDeque
{
    private int[] _items = new int[64];
    private int _head;

    public int Count { get; private set; }

    public void PushBack(int v)
    {
        if (Count == _items.Length) Grow();
        _items[(_head + Count) & (_items.Length - 1)] = v;
        Count++;
    }

    public void PushFront(int v)
    {
        if (Count == _items.Length) Grow();
        _head = (_head - 1) & (_items.Length - 1);
        _items[_head] = v;
        Count++;
    }

    public int PeekFront() => _items[_head];

    public int PopFront()
    {
        var v = _items[_head];
        _head = (_head + 1) & (_items.Length - 1);
        Count--;
        return v;
    }

    /// <summary>The i-th slot from the front.</summary>
    public int this[int i] => _items[(_head + i) & (_items.Length - 1)];

    /// <summary>Removes the first occurrence of <paramref name="v"/>; false when absent.</summary>
    public bool Remove(int v)
    {
        for (var i = 0; i < Count; i++)
        {
            if (this[i] != v) continue;
            for (var j = i; j + 1 < Count; j++) _items[(_head + j) & (_items.Length - 1)] = _items[(_head + j + 1) & (_items.Length - 1)];
            Count--;
            return true;
        }
        return false;
    }

    private void Grow()
    {
        var bigger = new int[_items.Length * 2];
        for (var i = 0; i < Count; i++) bigger[i] = _items[(_head + i) & (_items.Length - 1)];
        _items = bigger;
        _head = 0;
    }
}
