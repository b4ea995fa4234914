using Joules.Parquet.Thrift;

namespace Joules.Parquet.Format;

// The file metadata model of parquet.thrift, limited to the fields this library reads or writes;
// every other field is skipped on read so files from newer writers still open.

/// <summary>Repetition of a schema element.</summary>
internal enum Repetition { Required = 0, Optional = 1, Repeated = 2 }

/// <summary>Value and level encodings of parquet.thrift.</summary>
internal enum ValueEncoding
{
    Plain = 0, PlainDictionary = 2, Rle = 3, BitPacked = 4, DeltaBinaryPacked = 5,
    DeltaLengthByteArray = 6, DeltaByteArray = 7, RleDictionary = 8, ByteStreamSplit = 9,
}

/// <summary>Compression codecs of parquet.thrift.</summary>
internal enum CompressionCodec { Uncompressed = 0, Snappy = 1, Gzip = 2, Lzo = 3, Brotli = 4, Lz4 = 5, Zstd = 6, Lz4Raw = 7 }

/// <summary>Page types of parquet.thrift.</summary>
internal enum PageType { DataPage = 0, IndexPage = 1, DictionaryPage = 2, DataPageV2 = 3 }

/// <summary>Legacy converted types of parquet.thrift.</summary>
internal enum ConvertedType
{
    Utf8 = 0, Map = 1, MapKeyValue = 2, List = 3, Enum = 4, Decimal = 5, Date = 6, TimeMillis = 7, TimeMicros = 8,
    TimestampMillis = 9, TimestampMicros = 10, Uint8 = 11, Uint16 = 12, Uint32 = 13, Uint64 = 14,
    Int8 = 15, Int16 = 16, Int32 = 17, Int64 = 18, Json = 19, Bson = 20, Interval = 21,
}

/// <summary>Thrift LogicalType union, flattened.</summary>
internal sealed class LogicalTypeRaw
{
    public int Kind; // the union field id: 1 STRING, 4 ENUM, 5 DECIMAL, 6 DATE, 7 TIME, 8 TIMESTAMP, 10 INTEGER, 12 JSON, 14 UUID, ...
    public int Scale, Precision;
    public bool AdjustedToUtc;
    public int Unit; // 1 millis, 2 micros, 3 nanos
    public int BitWidth;
    public bool Signed;

    public static LogicalTypeRaw Read(CompactReader r)
    {
        var lt = new LogicalTypeRaw();
        r.BeginStruct();
        while (r.NextField(out var id, out var t))
        {
            if (t != CompactType.Struct) { r.Skip(t); continue; }
            lt.Kind = id;
            r.BeginStruct();
            while (r.NextField(out var f, out var ft))
            {
                switch (id, f, ft)
                {
                    case (5, 1, CompactType.I32): lt.Scale = r.ReadI32(); break;
                    case (5, 2, CompactType.I32): lt.Precision = r.ReadI32(); break;
                    case (7 or 8, 1, CompactType.BoolTrue or CompactType.BoolFalse): lt.AdjustedToUtc = r.ReadBool(); break;
                    case (7 or 8, 2, CompactType.Struct):
                        r.BeginStruct();
                        while (r.NextField(out var u, out var ut)) { if (ut == CompactType.Struct) lt.Unit = u; r.Skip(ut); }
                        r.EndStruct();
                        break;
                    case (10, 1, CompactType.Byte): lt.BitWidth = (sbyte)r.ReadByte(); break;
                    case (10, 2, CompactType.BoolTrue or CompactType.BoolFalse): lt.Signed = r.ReadBool(); break;
                    default: r.Skip(ft); break;
                }
            }
            r.EndStruct();
        }
        r.EndStruct();
        return lt;
    }

    public void Write(CompactWriter w)
    {
        w.BeginStruct();
        w.StructField((short)Kind);
        w.BeginStruct();
        switch (Kind)
        {
            case 5: w.I32(1, Scale); w.I32(2, Precision); break;
            case 7 or 8:
                w.Bool(1, AdjustedToUtc);
                w.StructField(2);
                w.BeginStruct();
                w.StructField((short)Unit);
                w.BeginStruct(); w.EndStruct();
                w.EndStruct();
                break;
            case 10: w.Byte(1, (byte)BitWidth); w.Bool(2, Signed); break;
        }
        w.EndStruct();
        w.EndStruct();
    }
}

/// <summary>Thrift SchemaElement.</summary>
internal sealed class SchemaElement
{
    public PhysicalType? Type;
    public int? TypeLength;
    public Repetition? RepetitionType;
    public string Name = "";
    public int? NumChildren;
    public ConvertedType? ConvertedType;
    public int? Scale, Precision;
    public LogicalTypeRaw? LogicalType;

    public static SchemaElement Read(CompactReader r)
    {
        var e = new SchemaElement();
        r.BeginStruct();
        while (r.NextField(out var id, out var t))
        {
            switch (id, t)
            {
                case (1, CompactType.I32): e.Type = (PhysicalType)r.ReadI32(); break;
                case (2, CompactType.I32): e.TypeLength = r.ReadI32(); break;
                case (3, CompactType.I32): e.RepetitionType = (Repetition)r.ReadI32(); break;
                case (4, CompactType.Binary): e.Name = r.ReadString(); break;
                case (5, CompactType.I32): e.NumChildren = r.ReadI32(); break;
                case (6, CompactType.I32): e.ConvertedType = (ConvertedType)r.ReadI32(); break;
                case (7, CompactType.I32): e.Scale = r.ReadI32(); break;
                case (8, CompactType.I32): e.Precision = r.ReadI32(); break;
                case (10, CompactType.Struct): e.LogicalType = LogicalTypeRaw.Read(r); break;
                default: r.Skip(t); break;
            }
        }
        r.EndStruct();
        return e;
    }

    public void Write(CompactWriter w)
    {
        w.BeginStruct();
        if (Type != null) w.I32(1, (int)Type);
        if (TypeLength != null) w.I32(2, TypeLength.Value);
        if (RepetitionType != null) w.I32(3, (int)RepetitionType);
        w.String(4, Name);
        if (NumChildren != null) w.I32(5, NumChildren.Value);
        if (ConvertedType != null) w.I32(6, (int)ConvertedType);
        if (Scale != null) w.I32(7, Scale.Value);
        if (Precision != null) w.I32(8, Precision.Value);
        if (LogicalType != null) { w.StructField(10); LogicalType.Write(w); }
        w.EndStruct();
    }
}

/// <summary>Thrift Statistics.</summary>
internal sealed class Statistics
{
    public byte[]? Max, Min, MaxValue, MinValue;
    public long? NullCount, DistinctCount;

    public static Statistics Read(CompactReader r)
    {
        var s = new Statistics();
        r.BeginStruct();
        while (r.NextField(out var id, out var t))
        {
            switch (id, t)
            {
                case (1, CompactType.Binary): s.Max = r.ReadBinary(); break;
                case (2, CompactType.Binary): s.Min = r.ReadBinary(); break;
                case (3, CompactType.I64): s.NullCount = r.ReadI64(); break;
                case (4, CompactType.I64): s.DistinctCount = r.ReadI64(); break;
                case (5, CompactType.Binary): s.MaxValue = r.ReadBinary(); break;
                case (6, CompactType.Binary): s.MinValue = r.ReadBinary(); break;
                default: r.Skip(t); break;
            }
        }
        r.EndStruct();
        return s;
    }

    public void Write(CompactWriter w)
    {
        w.BeginStruct();
        if (Max != null) w.Binary(1, Max);
        if (Min != null) w.Binary(2, Min);
        if (NullCount != null) w.I64(3, NullCount.Value);
        if (DistinctCount != null) w.I64(4, DistinctCount.Value);
        if (MaxValue != null) w.Binary(5, MaxValue);
        if (MinValue != null) w.Binary(6, MinValue);
        w.EndStruct();
    }
}

/// <summary>Thrift ColumnMetaData.</summary>
internal sealed class ColumnMetaData
{
    public PhysicalType Type;
    public List<ValueEncoding> Encodings = new();
    public List<string> PathInSchema = new();
    public CompressionCodec Codec;
    public long NumValues;
    public long TotalUncompressedSize;
    public long TotalCompressedSize;
    public long DataPageOffset;
    public long? IndexPageOffset;
    public long? DictionaryPageOffset;
    public Statistics? Statistics;

    public static ColumnMetaData Read(CompactReader r)
    {
        var m = new ColumnMetaData();
        r.BeginStruct();
        while (r.NextField(out var id, out var t))
        {
            switch (id, t)
            {
                case (1, CompactType.I32): m.Type = (PhysicalType)r.ReadI32(); break;
                case (2, CompactType.List):
                {
                    int n = r.ReadListHeader(out var et);
                    for (int i = 0; i < n; i++) { if (et == CompactType.I32) m.Encodings.Add((ValueEncoding)r.ReadI32()); else r.Skip(et); }
                    break;
                }
                case (3, CompactType.List):
                {
                    int n = r.ReadListHeader(out var et);
                    for (int i = 0; i < n; i++) { if (et == CompactType.Binary) m.PathInSchema.Add(r.ReadString()); else r.Skip(et); }
                    break;
                }
                case (4, CompactType.I32): m.Codec = (CompressionCodec)r.ReadI32(); break;
                case (5, CompactType.I64): m.NumValues = r.ReadI64(); break;
                case (6, CompactType.I64): m.TotalUncompressedSize = r.ReadI64(); break;
                case (7, CompactType.I64): m.TotalCompressedSize = r.ReadI64(); break;
                case (9, CompactType.I64): m.DataPageOffset = r.ReadI64(); break;
                case (10, CompactType.I64): m.IndexPageOffset = r.ReadI64(); break;
                case (11, CompactType.I64): m.DictionaryPageOffset = r.ReadI64(); break;
                case (12, CompactType.Struct): m.Statistics = Statistics.Read(r); break;
                default: r.Skip(t); break;
            }
        }
        r.EndStruct();
        return m;
    }

    public void Write(CompactWriter w)
    {
        w.BeginStruct();
        w.I32(1, (int)Type);
        w.ListField(2, CompactType.I32, Encodings.Count);
        foreach (var e in Encodings) w.WriteI32Value((int)e);
        w.ListField(3, CompactType.Binary, PathInSchema.Count);
        foreach (var p in PathInSchema) w.WriteBinaryValue(System.Text.Encoding.UTF8.GetBytes(p));
        w.I32(4, (int)Codec);
        w.I64(5, NumValues);
        w.I64(6, TotalUncompressedSize);
        w.I64(7, TotalCompressedSize);
        w.I64(9, DataPageOffset);
        if (IndexPageOffset != null) w.I64(10, IndexPageOffset.Value);
        if (DictionaryPageOffset != null) w.I64(11, DictionaryPageOffset.Value);
        if (Statistics != null) { w.StructField(12); Statistics.Write(w); }
        w.EndStruct();
    }
}

/// <summary>Thrift ColumnChunk.</summary>
internal sealed class ColumnChunk
{
    public string? FilePath;
    public long FileOffset;
    public ColumnMetaData? MetaData;

    public static ColumnChunk Read(CompactReader r)
    {
        var c = new ColumnChunk();
        r.BeginStruct();
        while (r.NextField(out var id, out var t))
        {
            switch (id, t)
            {
                case (1, CompactType.Binary): c.FilePath = r.ReadString(); break;
                case (2, CompactType.I64): c.FileOffset = r.ReadI64(); break;
                case (3, CompactType.Struct): c.MetaData = ColumnMetaData.Read(r); break;
                default: r.Skip(t); break;
            }
        }
        r.EndStruct();
        return c;
    }

    public void Write(CompactWriter w)
    {
        w.BeginStruct();
        w.I64(2, FileOffset);
        if (MetaData != null) { w.StructField(3); MetaData.Write(w); }
        w.EndStruct();
    }
}

/// <summary>Thrift RowGroup.</summary>
internal sealed class RowGroup
{
    public List<ColumnChunk> Columns = new();
    public long TotalByteSize;
    public long NumRows;
    public long? FileOffset;
    public long? TotalCompressedSize;

    public static RowGroup Read(CompactReader r)
    {
        var g = new RowGroup();
        r.BeginStruct();
        while (r.NextField(out var id, out var t))
        {
            switch (id, t)
            {
                case (1, CompactType.List):
                {
                    int n = r.ReadListHeader(out var et);
                    for (int i = 0; i < n; i++) { if (et == CompactType.Struct) g.Columns.Add(ColumnChunk.Read(r)); else r.Skip(et); }
                    break;
                }
                case (2, CompactType.I64): g.TotalByteSize = r.ReadI64(); break;
                case (3, CompactType.I64): g.NumRows = r.ReadI64(); break;
                case (5, CompactType.I64): g.FileOffset = r.ReadI64(); break;
                case (6, CompactType.I64): g.TotalCompressedSize = r.ReadI64(); break;
                default: r.Skip(t); break;
            }
        }
        r.EndStruct();
        return g;
    }

    public void Write(CompactWriter w)
    {
        w.BeginStruct();
        w.ListField(1, CompactType.Struct, Columns.Count);
        foreach (var c in Columns) c.Write(w);
        w.I64(2, TotalByteSize);
        w.I64(3, NumRows);
        if (FileOffset != null) w.I64(5, FileOffset.Value);
        if (TotalCompressedSize != null) w.I64(6, TotalCompressedSize.Value);
        w.EndStruct();
    }
}

/// <summary>Thrift FileMetaData: the footer.</summary>
internal sealed class FileMetaData
{
    public int Version;
    public List<SchemaElement> Schema = new();
    public long NumRows;
    public List<RowGroup> RowGroups = new();
    public List<KeyValuePair<string, string?>> KeyValueMetadata = new();
    public string? CreatedBy;
    public int ColumnOrderCount; // written as TYPE_ORDER for every leaf so readers trust min_value/max_value

    public static FileMetaData Read(CompactReader r)
    {
        var m = new FileMetaData();
        r.BeginStruct();
        while (r.NextField(out var id, out var t))
        {
            switch (id, t)
            {
                case (1, CompactType.I32): m.Version = r.ReadI32(); break;
                case (2, CompactType.List):
                {
                    int n = r.ReadListHeader(out var et);
                    for (int i = 0; i < n; i++) { if (et == CompactType.Struct) m.Schema.Add(SchemaElement.Read(r)); else r.Skip(et); }
                    break;
                }
                case (3, CompactType.I64): m.NumRows = r.ReadI64(); break;
                case (4, CompactType.List):
                {
                    int n = r.ReadListHeader(out var et);
                    for (int i = 0; i < n; i++) { if (et == CompactType.Struct) m.RowGroups.Add(RowGroup.Read(r)); else r.Skip(et); }
                    break;
                }
                case (5, CompactType.List):
                {
                    int n = r.ReadListHeader(out var et);
                    for (int i = 0; i < n; i++)
                    {
                        if (et != CompactType.Struct) { r.Skip(et); continue; }
                        string key = ""; string? value = null;
                        r.BeginStruct();
                        while (r.NextField(out var f, out var ft))
                        {
                            if (f == 1 && ft == CompactType.Binary) key = r.ReadString();
                            else if (f == 2 && ft == CompactType.Binary) value = r.ReadString();
                            else r.Skip(ft);
                        }
                        r.EndStruct();
                        m.KeyValueMetadata.Add(new(key, value));
                    }
                    break;
                }
                case (6, CompactType.Binary): m.CreatedBy = r.ReadString(); break;
                default: r.Skip(t); break;
            }
        }
        r.EndStruct();
        return m;
    }

    public void Write(CompactWriter w)
    {
        w.BeginStruct();
        w.I32(1, Version);
        w.ListField(2, CompactType.Struct, Schema.Count);
        foreach (var e in Schema) e.Write(w);
        w.I64(3, NumRows);
        w.ListField(4, CompactType.Struct, RowGroups.Count);
        foreach (var g in RowGroups) g.Write(w);
        if (KeyValueMetadata.Count > 0)
        {
            w.ListField(5, CompactType.Struct, KeyValueMetadata.Count);
            foreach (var kv in KeyValueMetadata)
            {
                w.BeginStruct();
                w.String(1, kv.Key);
                if (kv.Value != null) w.String(2, kv.Value);
                w.EndStruct();
            }
        }
        if (CreatedBy != null) w.String(6, CreatedBy);
        if (ColumnOrderCount > 0)
        {
            w.ListField(7, CompactType.Struct, ColumnOrderCount);
            for (int i = 0; i < ColumnOrderCount; i++)
            {
                w.BeginStruct();
                w.StructField(1);
                w.BeginStruct(); w.EndStruct();
                w.EndStruct();
            }
        }
        w.EndStruct();
    }
}

/// <summary>Thrift PageHeader with its data, dictionary and v2 sub-headers flattened.</summary>
internal sealed class PageHeader
{
    public PageType Type;
    public int UncompressedPageSize;
    public int CompressedPageSize;
    public bool HasDataHeader, HasDictHeader, HasV2Header;
    public int NumValues;
    public ValueEncoding Encoding;
    public ValueEncoding DefinitionLevelEncoding = ValueEncoding.Rle;
    public ValueEncoding RepetitionLevelEncoding = ValueEncoding.Rle;
    // v2
    public int NumNulls, NumRows;
    public int DefinitionLevelsByteLength, RepetitionLevelsByteLength;
    public bool IsCompressed = true;

    public static PageHeader Read(CompactReader r)
    {
        var h = new PageHeader();
        r.BeginStruct();
        while (r.NextField(out var id, out var t))
        {
            switch (id, t)
            {
                case (1, CompactType.I32): h.Type = (PageType)r.ReadI32(); break;
                case (2, CompactType.I32): h.UncompressedPageSize = r.ReadI32(); break;
                case (3, CompactType.I32): h.CompressedPageSize = r.ReadI32(); break;
                case (5, CompactType.Struct):
                    h.HasDataHeader = true;
                    r.BeginStruct();
                    while (r.NextField(out var f, out var ft))
                    {
                        switch (f, ft)
                        {
                            case (1, CompactType.I32): h.NumValues = r.ReadI32(); break;
                            case (2, CompactType.I32): h.Encoding = (ValueEncoding)r.ReadI32(); break;
                            case (3, CompactType.I32): h.DefinitionLevelEncoding = (ValueEncoding)r.ReadI32(); break;
                            case (4, CompactType.I32): h.RepetitionLevelEncoding = (ValueEncoding)r.ReadI32(); break;
                            default: r.Skip(ft); break;
                        }
                    }
                    r.EndStruct();
                    break;
                case (7, CompactType.Struct):
                    h.HasDictHeader = true;
                    r.BeginStruct();
                    while (r.NextField(out var f, out var ft))
                    {
                        switch (f, ft)
                        {
                            case (1, CompactType.I32): h.NumValues = r.ReadI32(); break;
                            case (2, CompactType.I32): h.Encoding = (ValueEncoding)r.ReadI32(); break;
                            default: r.Skip(ft); break;
                        }
                    }
                    r.EndStruct();
                    break;
                case (8, CompactType.Struct):
                    h.HasV2Header = true;
                    r.BeginStruct();
                    while (r.NextField(out var f, out var ft))
                    {
                        switch (f, ft)
                        {
                            case (1, CompactType.I32): h.NumValues = r.ReadI32(); break;
                            case (2, CompactType.I32): h.NumNulls = r.ReadI32(); break;
                            case (3, CompactType.I32): h.NumRows = r.ReadI32(); break;
                            case (4, CompactType.I32): h.Encoding = (ValueEncoding)r.ReadI32(); break;
                            case (5, CompactType.I32): h.DefinitionLevelsByteLength = r.ReadI32(); break;
                            case (6, CompactType.I32): h.RepetitionLevelsByteLength = r.ReadI32(); break;
                            case (7, CompactType.BoolTrue or CompactType.BoolFalse): h.IsCompressed = r.ReadBool(); break;
                            default: r.Skip(ft); break;
                        }
                    }
                    r.EndStruct();
                    break;
                default: r.Skip(t); break;
            }
        }
        r.EndStruct();
        return h;
    }

    /// <summary>Writes a v1 data page or dictionary page header.</summary>
    public void Write(CompactWriter w)
    {
        w.BeginStruct();
        w.I32(1, (int)Type);
        w.I32(2, UncompressedPageSize);
        w.I32(3, CompressedPageSize);
        if (Type == PageType.DataPage)
        {
            w.StructField(5);
            w.BeginStruct();
            w.I32(1, NumValues);
            w.I32(2, (int)Encoding);
            w.I32(3, (int)ValueEncoding.Rle);
            w.I32(4, (int)ValueEncoding.Rle);
            w.EndStruct();
        }
        else if (Type == PageType.DictionaryPage)
        {
            w.StructField(7);
            w.BeginStruct();
            w.I32(1, NumValues);
            w.I32(2, (int)Encoding);
            w.EndStruct();
        }
        w.EndStruct();
    }
}
