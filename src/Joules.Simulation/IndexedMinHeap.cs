namespace Joules.Simulation;

/// <summary>
/// A binary min-heap over a fixed set of items 0..n-1, each with a long key that can be changed in place; ties go
/// to the lower index. The cluster keeps its instances in such heaps (by when their visible state next changes, by
/// load) so an arrival touches O(log n) instances instead of all of them.
/// </summary>
public sealed class IndexedMinHeap
{
    private readonly int[] _heap;
    private readonly int[] _pos;
    private readonly long[] _key;

    public IndexedMinHeap(int count, long initialKey = 0)
    {
        _heap = new int[count];
        _pos = new int[count];
        _key = new long[count];
        for (var i = 0; i < count; i++) { _heap[i] = i; _pos[i] = i; _key[i] = initialKey; }
    }

    public int Count => _heap.Length;
    /// <summary>The item with the smallest key (lowest index among equals).</summary>
    public int Min => _heap[0];
    public long MinKey => _key[_heap[0]];
    public long Key(int item) => _key[item];

    /// <summary>A double as a key that orders like the double (for non-negative values and +infinity).</summary>
    public static long Order(double nonNegative) => BitConverter.DoubleToInt64Bits(nonNegative <= 0 ? 0.0 : nonNegative);

    public void Update(int item, long key)
    {
        var old = _key[item];
        if (old == key) return;
        _key[item] = key;
        if (key < old) Up(_pos[item]); else Down(_pos[item]);
    }

    private bool Less(int a, int b) => _key[a] < _key[b] || (_key[a] == _key[b] && a < b);

    private void Up(int i)
    {
        var item = _heap[i];
        while (i > 0)
        {
            var parent = (i - 1) >> 1;
            if (!Less(item, _heap[parent])) break;
            Place(i, _heap[parent]);
            i = parent;
        }
        Place(i, item);
    }

    private void Down(int i)
    {
        var item = _heap[i];
        var n = _heap.Length;
        while (true)
        {
            var c = 2 * i + 1;
            if (c >= n) break;
            if (c + 1 < n && Less(_heap[c + 1], _heap[c])) c++;
            if (!Less(_heap[c], item)) break;
            Place(i, _heap[c]);
            i = c;
        }
        Place(i, item);
    }

    private void Place(int i, int item)
    {
        _heap[i] = item;
        _pos[item] = i;
    }
}
