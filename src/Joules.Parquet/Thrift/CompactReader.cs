using System.Buffers.Binary;
using System.Text;

namespace Joules.Parquet.Thrift;

/// <summary>Compact-protocol wire types as they appear in field and collection headers.</summary>
internal enum CompactType : byte
{
    Stop = 0, BoolTrue = 1, BoolFalse = 2, Byte = 3, I16 = 4, I32 = 5, I64 = 6, Double = 7,
    Binary = 8, List = 9, Set = 10, Map = 11, Struct = 12,
}

/// <summary>Reads Thrift compact-protocol values from a byte buffer; every size is checked against the bytes left, so corrupt input fails fast instead of allocating.</summary>
internal sealed class CompactReader
{
    private const int MaxDepth = 64;
    private readonly byte[] _buf;
    private readonly int _end;
    private int _pos;
    private int _depth;
    private readonly Stack<short> _lastField = new();
    private short _last;
    private bool? _pendingBool;

    public CompactReader(byte[] buffer, int offset, int length)
    {
        _buf = buffer;
        _pos = offset;
        _end = offset + length;
    }

    public int Position => _pos;

    private static ParquetFormatException Corrupt(string what) => new($"corrupt Thrift metadata: {what}");

    public void BeginStruct()
    {
        if (++_depth > MaxDepth) throw Corrupt("structures nested too deeply");
        _lastField.Push(_last);
        _last = 0;
    }

    public void EndStruct()
    {
        _last = _lastField.Pop();
        _depth--;
    }

    /// <summary>Reads the next field header; returns false at the struct's stop byte.</summary>
    public bool NextField(out short id, out CompactType type)
    {
        byte b = ReadByte();
        type = (CompactType)(b & 0x0F);
        if (type == CompactType.Stop) { id = 0; return false; }
        int delta = b >> 4;
        id = delta != 0 ? (short)(_last + delta) : (short)ZigZag32(ReadVarint32());
        _last = id;
        if (type is CompactType.BoolTrue or CompactType.BoolFalse) _pendingBool = type == CompactType.BoolTrue;
        else if (type > CompactType.Struct) throw Corrupt($"unknown wire type {(int)type} for field {id}");
        return true;
    }

    public byte ReadByte()
    {
        if (_pos >= _end) throw Corrupt("unexpected end of data");
        return _buf[_pos++];
    }

    public bool ReadBool()
    {
        if (_pendingBool is bool v) { _pendingBool = null; return v; }
        return ReadByte() == (byte)CompactType.BoolTrue;
    }

    public uint ReadVarint32()
    {
        uint result = 0;
        for (int shift = 0; shift < 35; shift += 7)
        {
            byte b = ReadByte();
            result |= (uint)(b & 0x7F) << shift;
            if ((b & 0x80) == 0) return result;
        }
        throw Corrupt("varint too long");
    }

    public ulong ReadVarint64()
    {
        ulong result = 0;
        for (int shift = 0; shift < 70; shift += 7)
        {
            byte b = ReadByte();
            result |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0) return result;
        }
        throw Corrupt("varint too long");
    }

    private static int ZigZag32(uint v) => (int)(v >> 1) ^ -(int)(v & 1);
    private static long ZigZag64(ulong v) => (long)(v >> 1) ^ -(long)(v & 1);

    public int ReadI32() => ZigZag32(ReadVarint32());
    public long ReadI64() => ZigZag64(ReadVarint64());
    public short ReadI16() => (short)ReadI32();

    public double ReadDouble()
    {
        if (_end - _pos < 8) throw Corrupt("unexpected end of data");
        var v = BinaryPrimitives.ReadDoubleLittleEndian(_buf.AsSpan(_pos, 8));
        _pos += 8;
        return v;
    }

    public ReadOnlySpan<byte> ReadBinarySpan()
    {
        uint len = ReadVarint32();
        if (len > (uint)(_end - _pos)) throw Corrupt($"binary length {len} past the end of the data");
        var span = _buf.AsSpan(_pos, (int)len);
        _pos += (int)len;
        return span;
    }

    public byte[] ReadBinary() => ReadBinarySpan().ToArray();

    public string ReadString()
    {
        try { return Utf8Strict.GetString(ReadBinarySpan()); }
        catch (DecoderFallbackException) { throw Corrupt("string is not valid UTF-8"); }
    }

    private static readonly UTF8Encoding Utf8Strict = new(false, true);

    /// <summary>Reads a list header; the count is bounded by the bytes left since every element takes at least one byte (bools in lists too).</summary>
    public int ReadListHeader(out CompactType elemType)
    {
        byte b = ReadByte();
        elemType = (CompactType)(b & 0x0F);
        int size = b >> 4;
        if (size == 15)
        {
            uint s = ReadVarint32();
            if (s > int.MaxValue) throw Corrupt("list size too large");
            size = (int)s;
        }
        if (size > _end - _pos) throw Corrupt($"list of {size} elements cannot fit in the {_end - _pos} bytes left");
        if (elemType is CompactType.Stop or > CompactType.Struct) throw Corrupt($"unknown list element type {(int)elemType}");
        return size;
    }

    /// <summary>Skips a value of any wire type, so fields added by newer writers are ignored.</summary>
    public void Skip(CompactType type)
    {
        switch (type)
        {
            case CompactType.BoolTrue:
            case CompactType.BoolFalse:
                if (_pendingBool != null) _pendingBool = null; else ReadByte();
                break;
            case CompactType.Byte: ReadByte(); break;
            case CompactType.I16:
            case CompactType.I32: ReadVarint32(); break;
            case CompactType.I64: ReadVarint64(); break;
            case CompactType.Double: ReadDouble(); break;
            case CompactType.Binary: ReadBinarySpan(); break;
            case CompactType.List:
            case CompactType.Set:
            {
                int n = ReadListHeader(out var et);
                if (++_depth > MaxDepth) throw Corrupt("structures nested too deeply");
                for (int i = 0; i < n; i++) SkipElement(et);
                _depth--;
                break;
            }
            case CompactType.Map:
            {
                uint n = ReadVarint32();
                if (n == 0) break;
                if (n > (uint)(_end - _pos)) throw Corrupt("map size past the end of the data");
                byte kv = ReadByte();
                var kt = (CompactType)(kv >> 4);
                var vt = (CompactType)(kv & 0x0F);
                if (kt is CompactType.Stop or > CompactType.Struct || vt is CompactType.Stop or > CompactType.Struct) throw Corrupt("unknown map element type");
                if (++_depth > MaxDepth) throw Corrupt("structures nested too deeply");
                for (uint i = 0; i < n; i++) { SkipElement(kt); SkipElement(vt); }
                _depth--;
                break;
            }
            case CompactType.Struct:
                BeginStruct();
                while (NextField(out _, out var ft)) Skip(ft);
                EndStruct();
                break;
            default:
                throw Corrupt($"unknown wire type {(int)type}");
        }
    }

    private void SkipElement(CompactType type)
    {
        // Inside collections a bool is a whole byte rather than folded into a field header.
        if (type is CompactType.BoolTrue or CompactType.BoolFalse) ReadByte();
        else Skip(type);
    }
}
