using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Joules.Parquet;

/// <summary>
/// Builds a column chunk's dictionary and the index of every value, giving up once the dictionary page would pass its size limit.
/// Fixed-width values are hashed by their bits in an open-addressing table (so -0.0 and 0.0, or NaNs with different payloads,
/// stay distinct); strings and byte arrays go through a <see cref="Dictionary{TKey, TValue}"/>. Tables are kept from chunk to chunk.
/// </summary>
internal sealed class DictionaryEncoder<T, TKey> where TKey : notnull
{
    private const int RefCacheSize = 256;
    private readonly PlainCodec<T, TKey> _codec;
    private T[] _entries = new T[256];
    private int _count;
    // Fixed-width values: keys by bit pattern, slots hold id + 1 (0 = empty).
    private ulong[] _keys = [];
    private int[] _slots = [];
    private int _shift;
    // Reference types.
    private Dictionary<TKey, int>? _dict;
    private readonly object?[] _refCache = new object?[RefCacheSize];
    private readonly int[] _refCacheIds = new int[RefCacheSize];

    public DictionaryEncoder(PlainCodec<T, TKey> codec) => _codec = codec;

    /// <summary>The dictionary entries of the last successful <see cref="Encode"/>, in id order.</summary>
    public ReadOnlySpan<T> Entries => _entries.AsSpan(0, _count);

    private static bool Fixed => typeof(T).IsValueType && (Unsafe.SizeOf<T>() == 8 || Unsafe.SizeOf<T>() == 4);

    /// <summary>Fills <paramref name="ids"/> with each value's dictionary index; false when the dictionary would exceed <paramref name="limitBytes"/>.</summary>
    public bool Encode(ReadOnlySpan<T> values, Span<int> ids, long limitBytes)
    {
        _count = 0;
        if (Fixed) return EncodeFixed(values, ids, limitBytes);
        _dict ??= new Dictionary<TKey, int>();
        _dict.Clear();
        Array.Clear(_refCache);
        long bytes = 0;
        for (int i = 0; i < values.Length; i++)
        {
            var v = values[i];
            // Repeated instances (pooled strings) skip hashing through a small identity cache.
            int slot = RuntimeHelpers.GetHashCode(v!) & (RefCacheSize - 1);
            if (ReferenceEquals(_refCache[slot], v)) { ids[i] = _refCacheIds[slot]; continue; }
            ref int id = ref CollectionsMarshal.GetValueRefOrAddDefault(_dict, _codec.Key(v), out bool exists);
            if (!exists)
            {
                bytes += _codec.PlainSize(v);
                if (bytes > limitBytes) return false;
                id = _count;
                Add(v);
            }
            _refCache[slot] = v;
            _refCacheIds[slot] = id;
            ids[i] = id;
        }
        // The dictionary holds the caller's strings only while this chunk is written.
        _dict.Clear();
        Array.Clear(_refCache);
        return true;
    }

    private void Add(T v)
    {
        if (_count == _entries.Length) Array.Resize(ref _entries, _entries.Length * 2);
        _entries[_count++] = v;
    }

    /// <summary>Forgets references to the caller's values once the chunk is written.</summary>
    public void Release()
    {
        if (!typeof(T).IsValueType) Array.Clear(_entries, 0, _count);
    }

    private bool EncodeFixed(ReadOnlySpan<T> values, Span<int> ids, long limitBytes)
    {
        int size = Unsafe.SizeOf<T>();
        int maxEntries = (int)Math.Min(limitBytes / size, 1 << 26);
        if (_slots.Length == 0) Grow(1024);
        else Array.Clear(_slots);
        int mask = _slots.Length - 1;
        for (int i = 0; i < values.Length; i++)
        {
            T v = values[i];
            ulong key = size == 8 ? Unsafe.As<T, ulong>(ref v) : Unsafe.As<T, uint>(ref v);
            int h = (int)((key * 0x9E3779B97F4A7C15UL) >> _shift);
            while (true)
            {
                int s = _slots[h];
                if (s == 0)
                {
                    if (_count >= maxEntries) return false;
                    _keys[h] = key;
                    _slots[h] = _count + 1;
                    ids[i] = _count;
                    Add(v);
                    if (_count * 2 > _slots.Length) { Grow(_slots.Length * 2); mask = _slots.Length - 1; }
                    break;
                }
                if (_keys[h] == key) { ids[i] = s - 1; break; }
                h = (h + 1) & mask;
            }
        }
        return true;
    }

    /// <summary>Resizes the table to <paramref name="capacity"/> slots (a power of two) and re-inserts the entries so far.</summary>
    private void Grow(int capacity)
    {
        _keys = new ulong[capacity];
        _slots = new int[capacity];
        _shift = 64 - System.Numerics.BitOperations.Log2((uint)capacity);
        int mask = capacity - 1;
        int size = Unsafe.SizeOf<T>();
        for (int id = 0; id < _count; id++)
        {
            T v = _entries[id];
            ulong key = size == 8 ? Unsafe.As<T, ulong>(ref v) : Unsafe.As<T, uint>(ref v);
            int h = (int)((key * 0x9E3779B97F4A7C15UL) >> _shift);
            while (_slots[h] != 0) h = (h + 1) & mask;
            _keys[h] = key;
            _slots[h] = id + 1;
        }
    }
}
