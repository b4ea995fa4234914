using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Joules.Parquet;

/// <summary>
/// Builds a column chunk's dictionary piece by piece and maps values to their dictionary index, giving up once the
/// dictionary page would pass its size limit. Fixed-width values are hashed by their bits in an open-addressing table
/// (so -0.0 and 0.0, or NaNs with different payloads, stay distinct); strings and byte arrays go through a
/// <see cref="Dictionary{TKey, TValue}"/> behind a small identity cache. Tables are kept from chunk to chunk.
/// </summary>
internal sealed class DictionaryEncoder<T, TKey> where TKey : notnull
{
    private const int RefCacheSize = 256;
    private readonly PlainCodec<T, TKey> _codec;
    private T[] _entries = new T[256];
    private int _count;
    private long _bytes;
    // Fixed-width values: keys by bit pattern next to id + 1 (0 = empty), so a probe touches one cache line.
    private Slot[] _slots = [];
    private struct Slot { public ulong Key; public int Id; }
    private int _shift;
    // Reference types.
    private Dictionary<TKey, int>? _dict;
    private readonly object?[] _refCache = new object?[RefCacheSize];
    private readonly int[] _refCacheIds = new int[RefCacheSize];

    public DictionaryEncoder(PlainCodec<T, TKey> codec) => _codec = codec;

    /// <summary>The dictionary entries so far, in id order.</summary>
    public ReadOnlySpan<T> Entries => _entries.AsSpan(0, _count);

    private static bool Fixed => typeof(T).IsValueType && (Unsafe.SizeOf<T>() == 8 || Unsafe.SizeOf<T>() == 4);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Bits(T v) => Unsafe.SizeOf<T>() == 8 ? Unsafe.As<T, ulong>(ref v) : Unsafe.As<T, uint>(ref v);

    /// <summary>Starts a new chunk's dictionary.</summary>
    public void Reset()
    {
        _count = 0;
        _bytes = 0;
        if (Fixed)
        {
            if (_slots.Length == 0) Grow(1024);
            else Array.Clear(_slots);
        }
        else
        {
            (_dict ??= new Dictionary<TKey, int>()).Clear();
            Array.Clear(_refCache);
        }
    }

    /// <summary>Adds <paramref name="values"/> and writes each one's index to <paramref name="ids"/>; false once the dictionary would exceed <paramref name="limitBytes"/>.</summary>
    public bool Add(ReadOnlySpan<T> values, Span<int> ids, long limitBytes) => Map(values, ids, limitBytes, insert: true);

    /// <summary>Writes the index of each of <paramref name="values"/> (all of them added before) to <paramref name="ids"/>.</summary>
    public void Lookup(ReadOnlySpan<T> values, Span<int> ids)
    {
        if (!Map(values, ids, long.MaxValue, insert: false)) throw new InvalidOperationException("a value missing from the dictionary it was added to");
    }

    private bool Map(ReadOnlySpan<T> values, Span<int> ids, long limitBytes, bool insert)
    {
        if (Fixed) return MapFixed(values, ids, limitBytes, insert);
        var dict = _dict!;
        for (int i = 0; i < values.Length; i++)
        {
            var v = values[i];
            int slot = RuntimeHelpers.GetHashCode(v!) & (RefCacheSize - 1);
            if (ReferenceEquals(_refCache[slot], v)) { ids[i] = _refCacheIds[slot]; continue; }
            ref int id = ref CollectionsMarshal.GetValueRefOrAddDefault(dict, _codec.Key(v), out bool exists);
            if (!exists)
            {
                if (!insert) { dict.Remove(_codec.Key(v)); return false; }
                _bytes += _codec.PlainSize(v);
                if (_bytes > limitBytes) return false;
                id = _count;
                Append(v);
            }
            _refCache[slot] = v;
            _refCacheIds[slot] = id;
            ids[i] = id;
        }
        return true;
    }

    private bool MapFixed(ReadOnlySpan<T> values, Span<int> ids, long limitBytes, bool insert)
    {
        int size = Unsafe.SizeOf<T>();
        long maxEntries = limitBytes / size;
        int mask = _slots.Length - 1;
        var slots = _slots;
        for (int i = 0; i < values.Length; i++)
        {
            T v = values[i];
            ulong key = Bits(v);
            int h = (int)((key * 0x9E3779B97F4A7C15UL) >> _shift);
            while (true)
            {
                ref Slot slot = ref slots[h];
                if (slot.Id == 0)
                {
                    if (!insert || _count >= maxEntries) return false;
                    slot.Key = key;
                    slot.Id = _count + 1;
                    ids[i] = _count;
                    Append(v);
                    _bytes += size;
                    if (_count * 2 > slots.Length) { Grow(slots.Length * 2); mask = _slots.Length - 1; slots = _slots; }
                    break;
                }
                if (slot.Key == key) { ids[i] = slot.Id - 1; break; }
                h = (h + 1) & mask;
            }
        }
        return true;
    }

    private void Append(T v)
    {
        if (_count == _entries.Length) Array.Resize(ref _entries, _entries.Length * 2);
        _entries[_count++] = v;
    }

    /// <summary>Forgets references to the caller's values once the chunk is written.</summary>
    public void Release()
    {
        if (typeof(T).IsValueType) return;
        Array.Clear(_entries, 0, _count);
        _dict?.Clear();
        Array.Clear(_refCache);
    }

    /// <summary>Resizes the table to <paramref name="capacity"/> slots (a power of two) and re-inserts the entries so far.</summary>
    private void Grow(int capacity)
    {
        _slots = new Slot[capacity];
        _shift = 64 - System.Numerics.BitOperations.Log2((uint)capacity);
        int mask = capacity - 1;
        for (int id = 0; id < _count; id++)
        {
            ulong key = Bits(_entries[id]);
            int h = (int)((key * 0x9E3779B97F4A7C15UL) >> _shift);
            while (_slots[h].Id != 0) h = (h + 1) & mask;
            _slots[h] = new Slot { Key = key, Id = id + 1 };
        }
    }
}
