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

    /// <summary>True for <see cref="ListColumnData{T}"/>.</summary>
    internal virtual bool IsList => false;

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

    /// <summary>
    /// A LIST column from flat arrays: row i is <paramref name="values"/>[offsets[i] .. offsets[i + 1]), so millions of lists need
    /// three arrays, not one per row. <paramref name="validity"/>[i] == false marks a null list (its offsets must be equal);
    /// <paramref name="elementValidity"/>[k] == false a null element (indexed like <paramref name="values"/>).
    /// <paramref name="count"/> (default offsets.Length - 1) lets buffers be reused across batches.
    /// </summary>
    public static ListColumnData<T> FromLists<T>(int[] offsets, T[] values, bool[]? validity = null, bool[]? elementValidity = null, int? count = null)
    {
        ArgumentNullException.ThrowIfNull(offsets);
        int rows = count ?? offsets.Length - 1;
        if (rows < 0 || rows + 1 > offsets.Length) throw new ArgumentOutOfRangeException(nameof(count), $"{rows} lists need {rows + 1} offsets, {offsets.Length} given");
        int end = offsets[rows];
        if (end < 0 || end > values.Length) throw new ArgumentException($"the last offset ({end}) is outside the {values.Length} values given", nameof(offsets));
        return new ListColumnData<T>(offsets, new ColumnData<T>(values, elementValidity, end), validity, rows);
    }
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

/// <summary>
/// The values of a LIST column for a run of rows: list i holds <see cref="Elements"/>[<see cref="Offsets"/>[i] .. Offsets[i + 1]);
/// <see cref="ColumnData.Validity"/> marks null lists, <c>Elements.Validity</c> null elements. Build one with <see cref="ColumnData.FromLists{T}"/>.
/// </summary>
public sealed class ListColumnData<T> : ColumnData, IListColumnData
{
    public ListColumnData(int[] offsets, ColumnData<T> elements, bool[]? validity = null, int? count = null) : base(count ?? offsets.Length - 1, validity)
    {
        ArgumentNullException.ThrowIfNull(elements);
        if (offsets.Length < Count + 1) throw new ArgumentException($"{Count} lists need {Count + 1} offsets, {offsets.Length} given", nameof(offsets));
        Offsets = offsets;
        Elements = elements;
    }

    /// <summary>Count + 1 positions into <see cref="Elements"/> (may be longer when a caller reuses buffers); need not start at 0.</summary>
    public int[] Offsets { get; }

    /// <summary>Every list's elements back to back, with null elements marked in their validity.</summary>
    public ColumnData<T> Elements { get; }

    ColumnData IListColumnData.Elements => Elements;

    /// <summary>The elements of row <paramref name="row"/> (empty for a null or empty list).</summary>
    public ReadOnlySpan<T> this[int row] => Elements.Values.AsSpan(Offsets[row], Offsets[row + 1] - Offsets[row]);

    /// <summary>Number of elements in row <paramref name="row"/>.</summary>
    public int LengthOf(int row) => Offsets[row + 1] - Offsets[row];

    internal override bool IsList => true;

    /// <summary>The element type (<c>long</c> for LIST&lt;INT64&gt;).</summary>
    public override Type ElementType => typeof(T);

    public override bool IsNull(int row) => Validity != null && !Validity[row];

    /// <summary>The list as an array of boxed elements (null entries for null elements), or null; for display, not hot loops.</summary>
    public override object? GetValue(int row)
    {
        if (IsNull(row)) return null;
        var items = new object?[LengthOf(row)];
        for (int k = 0; k < items.Length; k++) items[k] = Elements.GetValue(Offsets[row] + k);
        return items;
    }
}

/// <summary>A LIST column's data without its element type, for code that handles every list alike (display, statistics).</summary>
public interface IListColumnData
{
    /// <summary>Number of lists.</summary>
    int Count { get; }
    /// <summary>Count + 1 positions into <see cref="Elements"/>.</summary>
    int[] Offsets { get; }
    /// <summary>The elements of every list, back to back.</summary>
    ColumnData Elements { get; }
    /// <summary>True when list <paramref name="row"/> is null.</summary>
    bool IsNull(int row);
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
        if (c is ListColumnData<T>) throw new InvalidCastException($"column '{name}' is a list column: use GetList<{typeof(T).Name}>");
        return c as ColumnData<T> ?? throw new InvalidCastException($"column '{name}' holds {c.ElementType.Name} values, not {typeof(T).Name}");
    }

    /// <summary>The named LIST column; throws when it is not a list of <typeparamref name="T"/>.</summary>
    public ListColumnData<T> GetList<T>(string name)
    {
        var c = this[name];
        return c as ListColumnData<T> ?? throw new InvalidCastException(Schema[name].IsList
            ? $"column '{name}' is a list of {c.ElementType.Name} values, not of {typeof(T).Name}"
            : $"column '{name}' is not a list column (it holds {c.ElementType.Name} values)");
    }
}
