using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Joules.Parquet.Thrift;

/// <summary>Writes Thrift compact-protocol values into a growable buffer; callers write fields in increasing id order.</summary>
internal sealed class CompactWriter
{
    private readonly ArrayBufferWriter<byte> _out;
    private readonly Stack<short> _lastField = new();
    private short _last;

    public CompactWriter(ArrayBufferWriter<byte> output) => _out = output;

    public ReadOnlySpan<byte> WrittenSpan => _out.WrittenSpan;

    public void BeginStruct() { _lastField.Push(_last); _last = 0; }

    public void EndStruct()
    {
        WriteByte(0);
        _last = _lastField.Pop();
    }

    public void FieldHeader(short id, CompactType type)
    {
        int delta = id - _last;
        if (delta > 0 && delta <= 15) WriteByte((byte)((delta << 4) | (byte)type));
        else { WriteByte((byte)type); WriteVarint(Zig32(id)); }
        _last = id;
    }

    public void WriteByte(byte b)
    {
        var span = _out.GetSpan(1);
        span[0] = b;
        _out.Advance(1);
    }

    public void WriteVarint(ulong v)
    {
        var span = _out.GetSpan(10);
        int i = 0;
        while (v >= 0x80) { span[i++] = (byte)(v | 0x80); v >>= 7; }
        span[i++] = (byte)v;
        _out.Advance(i);
    }

    private static ulong Zig32(int v) => (uint)((v << 1) ^ (v >> 31));
    private static ulong Zig64(long v) => (ulong)((v << 1) ^ (v >> 63));

    public void I32(short id, int v) { FieldHeader(id, CompactType.I32); WriteVarint(Zig32(v)); }
    public void I64(short id, long v) { FieldHeader(id, CompactType.I64); WriteVarint(Zig64(v)); }
    public void Bool(short id, bool v) => FieldHeader(id, v ? CompactType.BoolTrue : CompactType.BoolFalse);
    public void Byte(short id, byte v) { FieldHeader(id, CompactType.Byte); WriteByte(v); }

    public void Binary(short id, ReadOnlySpan<byte> v) { FieldHeader(id, CompactType.Binary); WriteBinaryValue(v); }

    public void String(short id, string v) => Binary(id, Encoding.UTF8.GetBytes(v));

    public void WriteBinaryValue(ReadOnlySpan<byte> v)
    {
        WriteVarint((uint)v.Length);
        _out.Write(v);
    }

    public void WriteI32Value(int v) => WriteVarint(Zig32(v));

    public void StructField(short id) => FieldHeader(id, CompactType.Struct);

    public void ListField(short id, CompactType elemType, int count)
    {
        FieldHeader(id, CompactType.List);
        if (count < 15) WriteByte((byte)((count << 4) | (byte)elemType));
        else { WriteByte((byte)(0xF0 | (byte)elemType)); WriteVarint((uint)count); }
    }

    public void WriteDoubleValue(double v)
    {
        var span = _out.GetSpan(8);
        BinaryPrimitives.WriteDoubleLittleEndian(span, v);
        _out.Advance(8);
    }
}
