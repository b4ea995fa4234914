using System.Globalization;
using System.Text.Json;
using Joules.Parquet;

namespace Joules.Cli.Commands;

/// <summary>Whole-file statistics of one column (non-null count, min, max, numeric sum), accumulated row group by row group.</summary>
internal sealed class ColumnStatistics
{
    public ColumnStatistics(ParquetColumn column) => Column = column;

    public ParquetColumn Column { get; }
    public bool NotSupported => Column.NotSupportedReason != null;
    public long NonNull { get; private set; }
    private Int128 _intSum;
    private double _doubleSum;
    private bool _isInteger, _isFloating;
    private long _minL = long.MaxValue, _maxL = long.MinValue;
    private double _minD = double.PositiveInfinity, _maxD = double.NegativeInfinity;
    private string? _minS, _maxS;
    private byte[]? _minB, _maxB;

    public static List<ColumnStatistics> Compute(ParquetFileReader reader)
    {
        var stats = reader.Schema.Select(c => new ColumnStatistics(c)).ToList();
        var readable = reader.ReadableColumns;
        for (int g = 0; g < reader.RowGroupCount; g++)
        {
            // One column at a time keeps memory to one column of one row group.
            foreach (var name in readable)
            {
                var group = reader.ReadRowGroup(g, [name]);
                stats[reader.Schema.IndexOf(name)].Add(group.Columns[0]);
            }
        }
        return stats;
    }

    private bool Unsigned => Column.LogicalType is { Kind: LogicalKind.Int, IsSigned: false };
    private bool IsTimestamp => Column.TimestampUnit != null;
    private bool IsDate => Column.LogicalType?.Kind == LogicalKind.Date;
    /// <summary>Sums make sense for plain numbers, not for timestamps, dates or decimals' raw integers.</summary>
    private bool Summable => !IsTimestamp && !IsDate && Column.LogicalType?.Kind is null or LogicalKind.Int;

    /// <summary>Adds one row group's values; a list column counts its elements (non-null, sum, min, max over every list's elements).</summary>
    public void Add(ColumnData data)
    {
        if (data is IListColumnData list) data = list.Elements;
        switch (data)
        {
            case ColumnData<int> d:
                _isInteger = true;
                for (int i = 0; i < d.Count; i++)
                    if (!d.IsNull(i)) { long v = Unsigned ? (uint)d[i] : d[i]; NonNull++; _intSum += v; _minL = Math.Min(_minL, v); _maxL = Math.Max(_maxL, v); }
                break;
            case ColumnData<long> d:
                _isInteger = true;
                for (int i = 0; i < d.Count; i++)
                {
                    if (d.IsNull(i)) continue;
                    NonNull++;
                    long v = d[i];
                    if (Unsigned) { _intSum += (ulong)v; if ((ulong)v < (ulong)_minL || NonNull == 1) _minL = v; if ((ulong)v > (ulong)_maxL || NonNull == 1) _maxL = v; }
                    else { _intSum += v; _minL = Math.Min(_minL, v); _maxL = Math.Max(_maxL, v); }
                }
                break;
            case ColumnData<bool> d:
                _isInteger = true;
                for (int i = 0; i < d.Count; i++)
                    if (!d.IsNull(i)) { long v = d[i] ? 1 : 0; NonNull++; _intSum += v; _minL = Math.Min(_minL, v); _maxL = Math.Max(_maxL, v); }
                break;
            case ColumnData<float> d:
                _isFloating = true;
                for (int i = 0; i < d.Count; i++) if (!d.IsNull(i)) AddDouble(d[i]);
                break;
            case ColumnData<double> d:
                _isFloating = true;
                for (int i = 0; i < d.Count; i++) if (!d.IsNull(i)) AddDouble(d[i]);
                break;
            case ColumnData<string> d:
                for (int i = 0; i < d.Count; i++)
                {
                    if (d.IsNull(i)) continue;
                    NonNull++;
                    var s = d[i];
                    if (_minS == null || string.CompareOrdinal(s, _minS) < 0) _minS = s;
                    if (_maxS == null || string.CompareOrdinal(s, _maxS) > 0) _maxS = s;
                }
                break;
            case ColumnData<byte[]> d:
                for (int i = 0; i < d.Count; i++)
                {
                    if (d.IsNull(i)) continue;
                    NonNull++;
                    var b = d[i];
                    if (_minB == null || b.AsSpan().SequenceCompareTo(_minB) < 0) _minB = b;
                    if (_maxB == null || b.AsSpan().SequenceCompareTo(_maxB) > 0) _maxB = b;
                }
                break;
        }
    }

    private void AddDouble(double v)
    {
        NonNull++;
        _doubleSum += v;
        if (!double.IsNaN(v)) { _minD = Math.Min(_minD, v); _maxD = Math.Max(_maxD, v); }
    }

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    private string RenderInteger(long v)
    {
        if (IsTimestamp) return ParquetCommands.FormatTimestamp(v, Column.TimestampUnit!.Value);
        if (IsDate) return DateOnly.FromDayNumber(DateOnly.FromDateTime(DateTime.UnixEpoch).DayNumber + (int)v).ToString("yyyy-MM-dd", Inv);
        if (Column.PhysicalType == PhysicalType.Boolean) return v != 0 ? "true" : "false";
        return Unsigned && Column.PhysicalType == PhysicalType.Int64 ? ((ulong)v).ToString(Inv) : v.ToString(Inv);
    }

    public string? MinText => NonNull == 0 ? null : _isInteger ? RenderInteger(_minL) : _isFloating ? _minD.ToString("R", Inv) : _minS ?? (_minB != null ? "0x" + Convert.ToHexString(_minB) : null);
    public string? MaxText => NonNull == 0 ? null : _isInteger ? RenderInteger(_maxL) : _isFloating ? _maxD.ToString("R", Inv) : _maxS ?? (_maxB != null ? "0x" + Convert.ToHexString(_maxB) : null);
    public string? SumText => !Summable || NonNull == 0 && !(_isInteger || _isFloating) ? null
        : _isInteger ? _intSum.ToString(Inv) : _isFloating ? _doubleSum.ToString("R", Inv) : null;

    public void WriteJson(Utf8JsonWriter w)
    {
        w.WriteStartObject(Column.Name);
        w.WriteString("physical_type", ParquetColumn.PhysicalTypeName(Column.PhysicalType));
        if (Column.LogicalType != null) w.WriteString("logical_type", Column.LogicalType.ToString()); else w.WriteNull("logical_type");
        w.WriteBoolean("optional", Column.IsOptional);
        if (NotSupported) { w.WriteString("error", Column.NotSupportedReason); w.WriteEndObject(); return; }
        w.WriteNumber("non_null", NonNull);
        // Numbers stay numbers (exact integers as raw JSON); timestamps, dates and text are strings.
        bool numeric = (_isInteger || _isFloating) && !IsTimestamp && !IsDate && Column.PhysicalType != PhysicalType.Boolean;
        w.WritePropertyName("sum");
        if (SumText is { } sum) WriteNumberOrString(w, sum); else w.WriteNullValue();
        w.WritePropertyName("min");
        if (MinText is { } mn) { if (numeric) WriteNumberOrString(w, mn); else w.WriteStringValue(mn); } else w.WriteNullValue();
        w.WritePropertyName("max");
        if (MaxText is { } mx) { if (numeric) WriteNumberOrString(w, mx); else w.WriteStringValue(mx); } else w.WriteNullValue();
        w.WriteEndObject();
    }

    private static void WriteNumberOrString(Utf8JsonWriter w, string number)
    {
        // NaN and infinities have no JSON number form.
        if (double.TryParse(number, NumberStyles.Float, Inv, out var d) && double.IsFinite(d)) w.WriteRawValue(number);
        else w.WriteStringValue(number);
    }
}
