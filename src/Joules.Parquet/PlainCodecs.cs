using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Joules.Parquet.Format;

namespace Joules.Parquet;

/// <summary>Per-type PLAIN encoding, dictionary keys and statistic ordering used by the writer.</summary>
internal abstract class PlainCodec<T, TKey> where TKey : notnull
{
    public virtual bool SupportsDictionary => true;
    public abstract TKey Key(T value);
    public abstract int PlainSize(T value);
    public abstract double TypicalSize { get; }
    public virtual bool IsNullRef(T value) => false;
    public abstract void WritePlain(T value, ref byte[] buf, ref int len);
    public virtual void WritePlainSpan(ReadOnlySpan<T> values, ref byte[] buf, ref int len)
    {
        foreach (var v in values) WritePlain(v, ref buf, ref len);
    }
    /// <summary>Order for min/max; values where <see cref="Skip"/> is true (NaN) are left out.</summary>
    public abstract int Compare(T a, T b);
    public virtual bool Skip(T value) => false;
    public abstract byte[] StatBytes(T value);
    /// <summary>Whether the deprecated signed-order min/max fields may carry the same values.</summary>
    public virtual bool LegacyStats => true;

    protected static void Ensure(ref byte[] buf, int len, int more)
    {
        if (len + more > buf.Length) Array.Resize(ref buf, Math.Max(buf.Length * 2, len + more));
    }
}

/// <summary>Fixed-width numbers: PLAIN is a memory copy, keys are the values.</summary>
internal abstract class FixedPlainCodec<T> : PlainCodec<T, T> where T : unmanaged, IComparable<T>
{
    public override T Key(T value) => value;
    public override unsafe int PlainSize(T value) => sizeof(T);
    public override unsafe double TypicalSize => sizeof(T);
    public override unsafe void WritePlain(T value, ref byte[] buf, ref int len)
    {
        Ensure(ref buf, len, sizeof(T));
        MemoryMarshal.Write(buf.AsSpan(len), in value);
        len += sizeof(T);
    }
    public override unsafe void WritePlainSpan(ReadOnlySpan<T> values, ref byte[] buf, ref int len)
    {
        var bytes = MemoryMarshal.AsBytes(values);
        Ensure(ref buf, len, bytes.Length);
        bytes.CopyTo(buf.AsSpan(len));
        len += bytes.Length;
    }
    public override int Compare(T a, T b) => a.CompareTo(b);
    public override unsafe byte[] StatBytes(T value)
    {
        var b = new byte[sizeof(T)];
        MemoryMarshal.Write(b, in value);
        return b;
    }
}

/// <summary>INT32 writer codec.</summary>
internal sealed class Int32Codec : FixedPlainCodec<int> { public static readonly Int32Codec Instance = new(); }
/// <summary>INT64 writer codec (timestamps too).</summary>
internal sealed class Int64Codec : FixedPlainCodec<long> { public static readonly Int64Codec Instance = new(); }

/// <summary>FLOAT writer codec; NaN stays out of statistics.</summary>
internal sealed class FloatCodec : FixedPlainCodec<float>
{
    public static readonly FloatCodec Instance = new();
    public override bool Skip(float value) => float.IsNaN(value);
}

/// <summary>Doubles: dictionary keys by bit pattern, so NaN and -0.0 stay distinct values.</summary>
internal sealed class DoubleCodec : PlainCodec<double, long>
{
    public static readonly DoubleCodec Instance = new();
    public override long Key(double value) => BitConverter.DoubleToInt64Bits(value);
    public override int PlainSize(double value) => 8;
    public override double TypicalSize => 8;
    public override void WritePlain(double value, ref byte[] buf, ref int len)
    {
        Ensure(ref buf, len, 8);
        BinaryPrimitives.WriteDoubleLittleEndian(buf.AsSpan(len), value);
        len += 8;
    }
    public override void WritePlainSpan(ReadOnlySpan<double> values, ref byte[] buf, ref int len)
    {
        var bytes = MemoryMarshal.AsBytes(values);
        Ensure(ref buf, len, bytes.Length);
        bytes.CopyTo(buf.AsSpan(len));
        len += bytes.Length;
    }
    public override int Compare(double a, double b) => a.CompareTo(b);
    public override bool Skip(double value) => double.IsNaN(value);
    public override byte[] StatBytes(double value) => BitConverter.GetBytes(value);
}

/// <summary>BOOLEAN writer codec: bit-packed PLAIN, never dictionary-encoded.</summary>
internal sealed class BoolCodec : PlainCodec<bool, bool>
{
    public static readonly BoolCodec Instance = new();
    public override bool SupportsDictionary => false;
    public override bool Key(bool value) => value;
    public override int PlainSize(bool value) => 1;
    public override double TypicalSize => 0.125;
    public override void WritePlain(bool value, ref byte[] buf, ref int len) => throw new InvalidOperationException("booleans are bit-packed per page");
    public override void WritePlainSpan(ReadOnlySpan<bool> values, ref byte[] buf, ref int len)
    {
        int bytes = (values.Length + 7) / 8;
        Ensure(ref buf, len, bytes);
        var dst = buf.AsSpan(len, bytes);
        dst.Clear();
        for (int i = 0; i < values.Length; i++) if (values[i]) dst[i >> 3] |= (byte)(1 << (i & 7));
        len += bytes;
    }
    public override int Compare(bool a, bool b) => a.CompareTo(b);
    public override byte[] StatBytes(bool value) => [value ? (byte)1 : (byte)0];
}

/// <summary>Strings go out as UTF-8; statistics compare the UTF-8 bytes unsigned, as the format's ordering says.</summary>
internal sealed class StringCodec : PlainCodec<string, string>
{
    public static readonly StringCodec Instance = new();
    public override string Key(string value) => value;
    public override int PlainSize(string value) => 4 + System.Text.Encoding.UTF8.GetByteCount(value);
    public override double TypicalSize => 16;
    public override bool IsNullRef(string value) => value is null;
    public override void WritePlain(string value, ref byte[] buf, ref int len)
    {
        int max = System.Text.Encoding.UTF8.GetMaxByteCount(value.Length);
        Ensure(ref buf, len, 4 + max);
        int n = System.Text.Encoding.UTF8.GetBytes(value, buf.AsSpan(len + 4));
        BinaryPrimitives.WriteInt32LittleEndian(buf.AsSpan(len), n);
        len += 4 + n;
    }
    public override int Compare(string a, string b)
    {
        // Ordinal UTF-16 order differs from UTF-8 byte order only around surrogates; compare bytes then.
        int c = string.CompareOrdinal(a, b);
        if (c == 0) return 0;
        if (!HasSurrogate(a) && !HasSurrogate(b)) return c;
        return System.Text.Encoding.UTF8.GetBytes(a).AsSpan().SequenceCompareTo(System.Text.Encoding.UTF8.GetBytes(b));
    }
    private static bool HasSurrogate(string s)
    {
        foreach (char ch in s) if (char.IsSurrogate(ch)) return true;
        return false;
    }
    public override byte[] StatBytes(string value) => System.Text.Encoding.UTF8.GetBytes(value);
    public override bool LegacyStats => false;
}

/// <summary>BYTE_ARRAY (binary) writer codec.</summary>
internal sealed class BinaryCodec : PlainCodec<byte[], string>
{
    public static readonly BinaryCodec Instance = new();
    // Latin-1 style widening keeps keys exact and hashing cheap.
    public override string Key(byte[] value) => System.Text.Encoding.Latin1.GetString(value);
    public override int PlainSize(byte[] value) => 4 + value.Length;
    public override double TypicalSize => 16;
    public override bool IsNullRef(byte[] value) => value is null;
    public override void WritePlain(byte[] value, ref byte[] buf, ref int len)
    {
        Ensure(ref buf, len, 4 + value.Length);
        BinaryPrimitives.WriteInt32LittleEndian(buf.AsSpan(len), value.Length);
        value.CopyTo(buf.AsSpan(len + 4));
        len += 4 + value.Length;
    }
    public override int Compare(byte[] a, byte[] b) => a.AsSpan().SequenceCompareTo(b);
    public override byte[] StatBytes(byte[] value) => value;
    public override bool LegacyStats => false;
}

/// <summary>FIXED_LEN_BYTE_ARRAY writer codec.</summary>
internal sealed class FixedCodec : PlainCodec<byte[], string>
{
    private readonly int _width;
    public FixedCodec(int width) => _width = width;
    public override string Key(byte[] value) => System.Text.Encoding.Latin1.GetString(value);
    public override int PlainSize(byte[] value) => _width;
    public override double TypicalSize => _width;
    public override bool IsNullRef(byte[] value) => value is null;
    public override void WritePlain(byte[] value, ref byte[] buf, ref int len)
    {
        if (value.Length != _width) throw new ArgumentException($"fixed-length value has {value.Length} bytes, the column needs {_width}");
        Ensure(ref buf, len, _width);
        value.CopyTo(buf.AsSpan(len));
        len += _width;
    }
    public override int Compare(byte[] a, byte[] b) => a.AsSpan().SequenceCompareTo(b);
    public override byte[] StatBytes(byte[] value) => value;
    public override bool LegacyStats => false;
}

/// <summary>Running min and max of a column chunk.</summary>
internal struct StatsTracker<T, TKey> where TKey : notnull
{
    private readonly PlainCodec<T, TKey> _codec;
    private T _min, _max;
    private bool _any;

    public StatsTracker(PlainCodec<T, TKey> codec)
    {
        _codec = codec;
        _min = default!;
        _max = default!;
        _any = false;
    }

    /// <summary>Adds every value; numbers take a loop without per-value virtual calls.</summary>
    public void AddAll(ReadOnlySpan<T> values)
    {
        if (values.IsEmpty) return;
        if (typeof(T) == typeof(long)) { MinMax(As<long>(values)); return; }
        if (typeof(T) == typeof(int)) { MinMax(As<int>(values)); return; }
        if (typeof(T) == typeof(double)) { MinMaxFloating(As<double>(values)); return; }
        if (typeof(T) == typeof(float)) { MinMaxFloating(As<float>(values)); return; }
        foreach (var v in values) Add(v);
    }

    private static ReadOnlySpan<TTo> As<TTo>(ReadOnlySpan<T> values) =>
        MemoryMarshal.CreateReadOnlySpan(ref System.Runtime.CompilerServices.Unsafe.As<T, TTo>(ref MemoryMarshal.GetReference(values)), values.Length);

    private void MinMax<TNum>(ReadOnlySpan<TNum> values) where TNum : struct, System.Numerics.INumber<TNum>
    {
        TNum min = values[0], max = values[0];
        foreach (var v in values)
        {
            if (v < min) min = v;
            if (v > max) max = v;
        }
        Add((T)(object)min);
        Add((T)(object)max);
    }

    private void MinMaxFloating<TNum>(ReadOnlySpan<TNum> values) where TNum : struct, System.Numerics.IFloatingPointIeee754<TNum>
    {
        bool any = false;
        TNum min = default, max = default;
        foreach (var v in values)
        {
            if (TNum.IsNaN(v)) continue;
            if (!any) { min = max = v; any = true; continue; }
            if (v < min) min = v;
            if (v > max) max = v;
        }
        if (!any) return;
        Add((T)(object)min);
        Add((T)(object)max);
    }

    public void Add(T v)
    {
        if (_codec.Skip(v)) return;
        if (!_any) { _min = _max = v; _any = true; return; }
        if (_codec.Compare(v, _min) < 0) _min = v;
        if (_codec.Compare(v, _max) > 0) _max = v;
    }

    public Statistics ToStatistics(long nullCount)
    {
        var s = new Statistics { NullCount = nullCount };
        if (!_any) return s;
        T min = _min, max = _max;
        // The format asks for -0.0 as a minimum zero and +0.0 as a maximum zero.
        if (min is double dmin && dmin == 0) min = (T)(object)(-0.0);
        if (max is double dmax && dmax == 0) max = (T)(object)0.0;
        if (min is float fmin && fmin == 0) min = (T)(object)(-0.0f);
        if (max is float fmax && fmax == 0) max = (T)(object)0.0f;
        s.MinValue = _codec.StatBytes(min);
        s.MaxValue = _codec.StatBytes(max);
        if (_codec.LegacyStats) { s.Min = s.MinValue; s.Max = s.MaxValue; }
        return s;
    }
}
