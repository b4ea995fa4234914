namespace Joules.Calibration.Engine;

/// <summary>
/// A bounded map that drops (and disposes) its least recently used entry when full: the serving engine's CUDA graphs
/// per decode shape and cuDNN plans per prefill bucket, each costly to build and holding device memory.
/// </summary>
public sealed class LruCache<TKey, TValue> : IDisposable where TKey : notnull where TValue : IDisposable
{
    private readonly Dictionary<TKey, LinkedListNode<(TKey Key, TValue Value)>> _map = new();
    private readonly LinkedList<(TKey Key, TValue Value)> _order = new();

    /// <param name="capacity">Most entries held (at least 1).</param>
    public LruCache(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Capacity = capacity;
    }

    public int Capacity { get; }
    public int Count => _map.Count;
    /// <summary>Entries dropped to make room so far.</summary>
    public long Evicted { get; private set; }

    /// <summary>The entry for <paramref name="key"/>, now the most recently used, if held.</summary>
    public bool TryGet(TKey key, out TValue value)
    {
        if (_map.TryGetValue(key, out var node))
        {
            _order.Remove(node);
            _order.AddFirst(node);
            value = node.Value.Value;
            return true;
        }
        value = default!;
        return false;
    }

    /// <summary>Holds <paramref name="value"/> under <paramref name="key"/> as the most recently used entry, disposing the entry it replaces and, when full, the least recently used one.</summary>
    public void Add(TKey key, TValue value)
    {
        if (_map.Remove(key, out var old))
        {
            _order.Remove(old);
            old.Value.Value.Dispose();
        }
        else if (_map.Count >= Capacity && _order.Last is { } last)
        {
            _order.RemoveLast();
            _map.Remove(last.Value.Key);
            last.Value.Value.Dispose();
            Evicted++;
        }
        _map[key] = _order.AddFirst((key, value));
    }

    /// <summary>The entry for <paramref name="key"/>, built by <paramref name="build"/> and held when missing; <paramref name="built"/> says which.</summary>
    public TValue GetOrAdd(TKey key, Func<TKey, TValue> build, out bool built)
    {
        built = !TryGet(key, out var value);
        if (built)
        {
            value = build(key);
            Add(key, value);
        }
        return value;
    }

    /// <summary>Keys from the most to the least recently used.</summary>
    public IEnumerable<TKey> Keys => _order.Select(e => e.Key);

    /// <summary>Disposes and drops every entry.</summary>
    public void Clear()
    {
        foreach (var (_, v) in _order) v.Dispose();
        _order.Clear();
        _map.Clear();
    }

    public void Dispose() => Clear();
}
