using System.Collections;
using System.Text;

namespace Joules.Parquet;

/// <summary>Physical (storage) type of a Parquet column.</summary>
public enum PhysicalType { Boolean = 0, Int32 = 1, Int64 = 2, Int96 = 3, Float = 4, Double = 5, ByteArray = 6, FixedLenByteArray = 7 }

/// <summary>Unit of a timestamp or time column.</summary>
public enum TimeUnit { Millis, Micros, Nanos }

/// <summary>What a logical type annotation says a column's values mean.</summary>
public enum LogicalKind { None, String, Enum, Json, Bson, Uuid, Decimal, Date, Time, Timestamp, Int, Float16, Unknown }

/// <summary>A logical type annotation (String, Timestamp(unit, utc), Int(bits, signed), ...), read from either the logical or the legacy converted type.</summary>
public sealed record ParquetLogicalType
{
    public LogicalKind Kind { get; init; }
    public TimeUnit Unit { get; init; }
    public bool IsAdjustedToUtc { get; init; }
    public int BitWidth { get; init; }
    public bool IsSigned { get; init; } = true;
    public int Precision { get; init; }
    public int Scale { get; init; }

    public static readonly ParquetLogicalType String = new() { Kind = LogicalKind.String };
    public static readonly ParquetLogicalType Enum = new() { Kind = LogicalKind.Enum };
    public static readonly ParquetLogicalType Json = new() { Kind = LogicalKind.Json };
    public static readonly ParquetLogicalType Date = new() { Kind = LogicalKind.Date };
    public static readonly ParquetLogicalType Uuid = new() { Kind = LogicalKind.Uuid };

    public static ParquetLogicalType Timestamp(TimeUnit unit, bool utc = true) => new() { Kind = LogicalKind.Timestamp, Unit = unit, IsAdjustedToUtc = utc };
    public static ParquetLogicalType Time(TimeUnit unit, bool utc = true) => new() { Kind = LogicalKind.Time, Unit = unit, IsAdjustedToUtc = utc };
    public static ParquetLogicalType Int(int bits, bool signed = true) => new() { Kind = LogicalKind.Int, BitWidth = bits, IsSigned = signed };
    public static ParquetLogicalType Decimal(int precision, int scale) => new() { Kind = LogicalKind.Decimal, Precision = precision, Scale = scale };

    /// <summary>True for annotations whose BYTE_ARRAY values are UTF-8 text.</summary>
    public bool IsText => Kind is LogicalKind.String or LogicalKind.Enum or LogicalKind.Json;

    public override string ToString() => Kind switch
    {
        LogicalKind.Timestamp => $"Timestamp({Unit.ToString().ToUpperInvariant()}, {(IsAdjustedToUtc ? "UTC" : "local")})",
        LogicalKind.Time => $"Time({Unit.ToString().ToUpperInvariant()}, {(IsAdjustedToUtc ? "UTC" : "local")})",
        LogicalKind.Int => $"Int({BitWidth}, {(IsSigned ? "signed" : "unsigned")})",
        LogicalKind.Decimal => $"Decimal({Precision}, {Scale})",
        _ => Kind.ToString(),
    };
}

/// <summary>One top-level column: a primitive (name, physical type, optional logical type, whether it may hold nulls) or a one-level LIST of primitives (<see cref="Element"/>).</summary>
public sealed class ParquetColumn
{
    public ParquetColumn(string name, PhysicalType physicalType, ParquetLogicalType? logicalType = null, bool optional = false, int typeLength = 0)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (physicalType == PhysicalType.FixedLenByteArray && typeLength <= 0)
            throw new ArgumentException($"column '{name}': FIXED_LEN_BYTE_ARRAY needs a positive type length", nameof(typeLength));
        Name = name;
        PhysicalType = physicalType;
        LogicalType = logicalType;
        IsOptional = optional;
        TypeLength = typeLength;
    }

    public string Name { get; }
    public PhysicalType PhysicalType { get; }
    public ParquetLogicalType? LogicalType { get; }
    /// <summary>True when the column may hold nulls (OPTIONAL repetition).</summary>
    public bool IsOptional { get; }
    /// <summary>Byte length of FIXED_LEN_BYTE_ARRAY values; 0 otherwise.</summary>
    public int TypeLength { get; }

    /// <summary>Set when the file has this column but the library cannot read it (structs, maps, lists of lists); reading it throws with this reason.</summary>
    public string? NotSupportedReason { get; init; }

    /// <summary>For a LIST column, its element: physical and logical type, and whether elements may be null (<see cref="IsOptional"/> then says whether whole lists may be null). Null for primitive columns.</summary>
    public ParquetColumn? Element { get; private init; }

    /// <summary>True for a LIST column (values are <see cref="ListColumnData{T}"/>).</summary>
    public bool IsList => Element != null;

    // Where the writer puts the leaf: a primitive at [name], a list's element at [name, "list", element] (the
    // three-level layout, whichever layout the column was read from). Level bounds follow from the repetitions.
    internal string[] LeafPath => IsList ? [Name, "list", Element!.Name] : [Name];
    /// <summary>Definition level at which a list is present (1 for an optional list, else 0); entries below it are null lists, at it empty lists.</summary>
    internal int ListDefinedLevel => IsOptional ? 1 : 0;
    internal int MaxDefinitionLevel => IsList ? ListDefinedLevel + 1 + (Element!.IsOptional ? 1 : 0) : IsOptional ? 1 : 0;
    internal int MaxRepetitionLevel => IsList ? 1 : 0;

    /// <summary>The element type of <see cref="ColumnData{T}"/> (for lists, of <see cref="ListColumnData{T}"/>) that holds this column's values.</summary>
    public Type ClrType => PhysicalType switch
    {
        PhysicalType.Boolean => typeof(bool),
        PhysicalType.Int32 => typeof(int),
        PhysicalType.Int64 => typeof(long),
        PhysicalType.Int96 => typeof(long),
        PhysicalType.Float => typeof(float),
        PhysicalType.Double => typeof(double),
        PhysicalType.ByteArray => IsText ? typeof(string) : typeof(byte[]),
        _ => typeof(byte[]),
    };

    /// <summary>True for BYTE_ARRAY columns read as <see cref="string"/>.</summary>
    public bool IsText => PhysicalType == PhysicalType.ByteArray && LogicalType is { IsText: true };

    /// <summary>The timestamp unit when the column holds timestamps (INT96 columns read as microseconds).</summary>
    public TimeUnit? TimestampUnit => PhysicalType == PhysicalType.Int96 ? TimeUnit.Micros
        : LogicalType is { Kind: LogicalKind.Timestamp } lt ? lt.Unit : null;

    public static ParquetColumn Boolean(string name, bool optional = false) => new(name, PhysicalType.Boolean, null, optional);
    public static ParquetColumn Int32(string name, bool optional = false) => new(name, PhysicalType.Int32, null, optional);
    public static ParquetColumn Int64(string name, bool optional = false) => new(name, PhysicalType.Int64, null, optional);
    public static ParquetColumn Float(string name, bool optional = false) => new(name, PhysicalType.Float, null, optional);
    public static ParquetColumn Double(string name, bool optional = false) => new(name, PhysicalType.Double, null, optional);
    public static ParquetColumn String(string name, bool optional = false) => new(name, PhysicalType.ByteArray, ParquetLogicalType.String, optional);
    public static ParquetColumn Binary(string name, bool optional = false) => new(name, PhysicalType.ByteArray, null, optional);
    public static ParquetColumn FixedLenByteArray(string name, int length, bool optional = false) => new(name, PhysicalType.FixedLenByteArray, null, optional, length);
    /// <summary>An INT64 timestamp column; values are counts of <paramref name="unit"/> since the Unix epoch.</summary>
    public static ParquetColumn Timestamp(string name, TimeUnit unit = TimeUnit.Micros, bool utc = true, bool optional = false) =>
        new(name, PhysicalType.Int64, ParquetLogicalType.Timestamp(unit, utc), optional);

    /// <summary>
    /// A LIST column of <paramref name="element"/> values, written in the standard three-level layout
    /// (<c>group name (LIST) { repeated group list { element } }</c>) that pyarrow, DuckDB and Spark write.
    /// <paramref name="element"/>'s optionality says whether elements may be null; <paramref name="optional"/> whether whole lists may be.
    /// Example: <c>ParquetColumn.List("hash_ids", ParquetColumn.Int64("element"), optional: true)</c>.
    /// </summary>
    public static ParquetColumn List(string name, ParquetColumn element, bool optional = false)
    {
        ArgumentNullException.ThrowIfNull(element);
        if (element.IsList) throw new ArgumentException($"column '{name}': lists of lists are not supported (one level of nesting only)", nameof(element));
        if (element.NotSupportedReason != null) throw new ArgumentException($"column '{name}': its element cannot be written: {element.NotSupportedReason}", nameof(element));
        return new ParquetColumn(name, element.PhysicalType, element.LogicalType, optional, element.TypeLength) { Element = element };
    }

    /// <summary>A list column as found in a file (any of the list layouts the reader accepts), keeping the file's field names.</summary>
    internal static ParquetColumn ListFromFile(string name, ParquetColumn element, bool optional) =>
        new(name, element.PhysicalType, element.LogicalType, optional, element.TypeLength) { Element = element };

    /// <summary>Human-readable type, e.g. "INT64 Timestamp(MICROS, UTC)" or "LIST&lt;INT64&gt;".</summary>
    public string TypeDescription
    {
        get
        {
            if (Element is { } e) return $"LIST<{e.TypeDescription}{(e.IsOptional ? " (optional elements)" : "")}>";
            var sb = new StringBuilder(PhysicalTypeName(PhysicalType));
            if (PhysicalType == PhysicalType.FixedLenByteArray) sb.Append('(').Append(TypeLength).Append(')');
            if (LogicalType != null) sb.Append(' ').Append(LogicalType);
            return sb.ToString();
        }
    }

    public static string PhysicalTypeName(PhysicalType t) => t switch
    {
        PhysicalType.Boolean => "BOOLEAN", PhysicalType.Int32 => "INT32", PhysicalType.Int64 => "INT64", PhysicalType.Int96 => "INT96",
        PhysicalType.Float => "FLOAT", PhysicalType.Double => "DOUBLE", PhysicalType.ByteArray => "BYTE_ARRAY",
        _ => "FIXED_LEN_BYTE_ARRAY",
    };

    public override string ToString() => $"{Name}: {TypeDescription}{(IsOptional ? " (optional)" : "")}";
}

/// <summary>The ordered top-level columns of a Parquet file.</summary>
public sealed class ParquetSchema : IReadOnlyList<ParquetColumn>
{
    private readonly ParquetColumn[] _columns;
    private readonly Dictionary<string, int> _index = new(StringComparer.Ordinal);

    public ParquetSchema(IEnumerable<ParquetColumn> columns)
    {
        _columns = columns.ToArray();
        for (int i = 0; i < _columns.Length; i++)
            if (!_index.TryAdd(_columns[i].Name, i)) throw new ArgumentException($"duplicate column name '{_columns[i].Name}'");
    }

    public ParquetSchema(params ParquetColumn[] columns) : this((IEnumerable<ParquetColumn>)columns) { }

    public int Count => _columns.Length;
    public ParquetColumn this[int index] => _columns[index];
    public ParquetColumn this[string name] => _columns[IndexOf(name)];

    /// <summary>Index of the named column; throws <see cref="KeyNotFoundException"/> listing the known columns when absent.</summary>
    public int IndexOf(string name) => _index.TryGetValue(name, out var i) ? i
        : throw new KeyNotFoundException($"no column '{name}' (columns: {string.Join(", ", _columns.Select(c => c.Name))})");

    public bool Contains(string name) => _index.ContainsKey(name);

    public IEnumerator<ParquetColumn> GetEnumerator() => ((IEnumerable<ParquetColumn>)_columns).GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}

/// <summary>Conversions between Parquet timestamp values and .NET dates.</summary>
public static class ParquetTimestamp
{
    public static DateTime ToDateTime(long value, TimeUnit unit) => unit switch
    {
        TimeUnit.Millis => DateTime.UnixEpoch.AddTicks(value * TimeSpan.TicksPerMillisecond),
        TimeUnit.Micros => DateTime.UnixEpoch.AddTicks(value * 10),
        _ => DateTime.UnixEpoch.AddTicks(value / 100),
    };

    public static long FromDateTime(DateTime value, TimeUnit unit)
    {
        long ticks = (value.Kind == DateTimeKind.Local ? value.ToUniversalTime() : value).Ticks - DateTime.UnixEpoch.Ticks;
        return unit switch
        {
            TimeUnit.Millis => ticks / TimeSpan.TicksPerMillisecond,
            TimeUnit.Micros => ticks / 10,
            _ => ticks * 100,
        };
    }
}
