namespace Joules.Parquet;

/// <summary>The values of one column for a run of rows: a typed array plus, for columns with nulls, a validity array (true = value present).</summary>
public abstract class ColumnData
{
    private protected ColumnData(int count, bool[]? validity)
    {
        if (validity != null && validity.Length < count) throw new ArgumentException($"validity has {validity.Length} entries for {count} rows");
        Count = count;
        Validity = validity;
    }

    /// <summary>Number of rows.</summary>
    public int Count { get; }

    /// <summary>Per-row presence (true = not null), or null when every row has a value.</summary>
    public bool[]? Validity { get; }

    public abstract Type ElementType { get; }

    /// <summary>True when row <paramref name="row"/> is null.</summary>
    public abstract bool IsNull(int row);

    /// <summary>Number of null rows.</summary>
    public int NullCount
    {
        get
        {
            int n = 0;
            for (int i = 0; i < Count; i++) if (IsNull(i)) n++;
            return n;
        }
    }

    /// <summary>The value of one row, boxed (null for a null row); for display, not hot loops.</summary>
    public abstract object? GetValue(int row);

    public static ColumnData<T> From<T>(T[] values, bool[]? validity = null, int? count = null) => new(values, validity, count);
}

/// <summary>Typed column values: <see cref="Values"/>[i] is row i (default for null rows of value types; null for null strings/byte arrays).</summary>
public sealed class ColumnData<T> : ColumnData
{
    public ColumnData(T[] values, bool[]? validity = null, int? count = null) : base(count ?? values.Length, validity)
    {
        if (count is int c && (c < 0 || c > values.Length)) throw new ArgumentOutOfRangeException(nameof(count), $"count {c} outside 0..{values.Length}");
        Values = values;
    }

    /// <summary>The backing array; may be longer than <see cref="ColumnData.Count"/> when a caller reuses buffers.</summary>
    public T[] Values { get; }

    public ReadOnlySpan<T> Span => Values.AsSpan(0, Count);

    public T this[int row] => Values[row];

    public override Type ElementType => typeof(T);

    public override bool IsNull(int row) =>
        (Validity != null && !Validity[row]) || (!typeof(T).IsValueType && Values[row] is null);

    public override object? GetValue(int row) => IsNull(row) ? null : Values[row];
}

/// <summary>The columns of one row group, as read: look columns up by name and get typed views.</summary>
public sealed class RowGroupData
{
    private readonly ColumnData[] _columns;

    internal RowGroupData(int index, long firstRow, ParquetSchema schema, ColumnData[] columns, int rowCount)
    {
        Index = index;
        FirstRow = firstRow;
        Schema = schema;
        _columns = columns;
        RowCount = rowCount;
    }

    /// <summary>Index of this row group in the file.</summary>
    public int Index { get; }
    /// <summary>File-wide row number of this row group's first row.</summary>
    public long FirstRow { get; }
    public int RowCount { get; }
    /// <summary>The columns read (the projection), in the order asked for.</summary>
    public ParquetSchema Schema { get; }
    public IReadOnlyList<ColumnData> Columns => _columns;

    public ColumnData this[int index] => _columns[index];
    public ColumnData this[string name] => _columns[Schema.IndexOf(name)];

    /// <summary>The named column as typed data; throws when <typeparamref name="T"/> is not the column's element type.</summary>
    public ColumnData<T> Get<T>(string name)
    {
        var c = this[name];
        return c as ColumnData<T> ?? throw new InvalidCastException($"column '{name}' holds {c.ElementType.Name} values, not {typeof(T).Name}");
    }
}
