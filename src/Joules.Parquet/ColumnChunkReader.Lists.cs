using Joules.Parquet.Encodings;
using Joules.Parquet.Format;

namespace Joules.Parquet;

// LIST columns: repetition level 0 starts a row, 1 continues its list; the definition level says whether an entry
// is a null list, an empty list, a null element or a value (see ParquetColumn.ListDefinedLevel).
internal sealed partial class ColumnChunkReader
{
    private int[] _rep = [], _def = [];
    private bool[] _listValidScratch = [], _elementValidScratch = [];

    /// <summary>Decodes a list chunk of <paramref name="rows"/> rows; arrays of <paramref name="reuse"/> are recycled when large enough.</summary>
    public ListColumnData<T> ReadList<T>(int rowGroup, byte[] buffer, int offset, int length, ColumnMetaData meta, int rows, ListColumnData<T>? reuse)
    {
        Begin(rowGroup, buffer, offset, length, meta);
        var decoder = Decoder<T>();
        long entries = meta.NumValues;
        if (entries < rows) throw Error($"list chunk holds {entries} level entries for {rows} rows (at least one per row needed)");
        long elemSize = typeof(T).IsValueType ? System.Runtime.CompilerServices.Unsafe.SizeOf<T>() : IntPtr.Size;
        if (entries * (elemSize + 1) + rows * 5L > _options.MaxColumnBytes)
            throw Error($"list chunk declares {entries} entries, which would need more than the {_options.MaxColumnBytes} byte limit for one column");
        int cap = (int)entries;
        var offsets = reuse is { } r0 && r0.Offsets.Length >= rows + 1 ? r0.Offsets : new int[rows + 1];
        // Row groups hold different numbers of elements: arrays grow by half again when one does not fit, so streaming
        // through a file reallocates a few times, not at every larger group.
        int grown = reuse == null ? cap : (int)Math.Min(Array.MaxLength, Math.Max(cap, reuse.Elements.Values.Length * 3L / 2));
        var values = reuse is { } r1 && r1.Elements.Values.Length >= cap ? r1.Elements.Values
            : typeof(T).IsValueType ? GC.AllocateUninitializedArray<T>(grown) : new T[grown];
        Pooled.Ensure(ref _listValidScratch, rows);
        Pooled.Ensure(ref _elementValidScratch, cap);
        var listValid = _listValidScratch.AsSpan(0, rows);
        var elemValid = _elementValidScratch.AsSpan(0, cap);
        var (elements, nullLists, nullElements) = DecodeListGuarded(decoder, rows, offsets, values, listValid, elemValid, 0);

        bool[]? validity = null, elementValidity = null;
        if (nullLists > 0)
        {
            validity = reuse?.Validity is { } rv && rv.Length >= rows ? rv : new bool[rows];
            listValid.CopyTo(validity);
        }
        if (nullElements > 0)
        {
            elementValidity = reuse?.Elements.Validity is { } ev && ev.Length >= elements ? ev : new bool[Math.Max(elements, 1)];
            elemValid.Slice(0, elements).CopyTo(elementValidity);
        }
        return new ListColumnData<T>(offsets, new ColumnData<T>(values, elementValidity, elements), validity, rows);
    }

    /// <summary>
    /// Decodes a list chunk straight into the caller's spans (a whole-column read): <paramref name="offsets"/> gets rows + 1
    /// positions counted from <paramref name="elementBase"/>, <paramref name="values"/> the elements, and the validity spans
    /// every row's and element's mark. Returns the element, null-list and null-element counts.
    /// </summary>
    public (int Elements, int NullLists, int NullElements) ReadListInto<T>(int rowGroup, byte[] buffer, int offset, int length, ColumnMetaData meta, int rows,
        Span<int> offsets, Span<T> values, Span<bool> listValid, Span<bool> elemValid, int elementBase)
    {
        Begin(rowGroup, buffer, offset, length, meta);
        if (meta.NumValues < rows) throw Error($"list chunk holds {meta.NumValues} level entries for {rows} rows (at least one per row needed)");
        if (meta.NumValues > values.Length) throw Error($"list chunk declares {meta.NumValues} entries, more than the {values.Length} the footer's counts allowed for");
        return DecodeListGuarded(Decoder<T>(), rows, offsets, values, listValid, elemValid, elementBase);
    }

    private (int Elements, int NullLists, int NullElements) DecodeListGuarded<T>(ValueDecoder<T> decoder, int rows, Span<int> offsets, Span<T> values, Span<bool> listValid, Span<bool> elemValid, int elementBase)
    {
        try
        {
            var r = DecodeList(decoder, rows, offsets, values, listValid, elemValid, elementBase);
            _page = -1;
            return r;
        }
        catch (Exception e) when (Locate(e) is { } located) { throw located; }
    }

    private (int Elements, int NullLists, int NullElements) DecodeList<T>(ValueDecoder<T> decoder, int rows, Span<int> offsets, Span<T> values, Span<bool> listValid, Span<bool> elemValid, int elementBase)
    {
        int maxDef = _column.MaxDefinitionLevel;
        int listLevel = _column.ListDefinedLevel;
        int defWidth = RleBitPacked.BitWidth(maxDef);
        T[]? dict = null;
        int row = 0, elem = 0, entry = 0, nullLists = 0, nullElements = 0;
        int cap = values.Length;
        while (true)
        {
            var kind = NextPage(out var page);
            if (kind == PageKind.End) break;
            if (kind == PageKind.Dictionary)
            {
                dict = Dictionary(decoder, page);
                continue;
            }
            int n = page.NumValues;
            if (n > cap - entry) throw Error($"pages hold more than the {cap} level entries the column chunk declares");
            Pooled.Ensure(ref _rep, n);
            Pooled.Ensure(ref _def, n);
            var rep = _rep.AsSpan(0, n);
            var def = _def.AsSpan(0, n);
            RleBitPacked.Decode(page.Repetition, 1, rep);
            RleBitPacked.Decode(page.Definition, defWidth, def);

            // Walk the entries: rows start at repetition 0; entries above the list level are elements.
            int firstElem = elem, present = 0;
            for (int i = 0; i < n; i++)
            {
                int d = def[i];
                if ((uint)d > (uint)maxDef) throw Error($"definition level {d} is above the column's maximum {maxDef}");
                if (rep[i] == 0)
                {
                    if (row == rows) throw Error($"column chunk holds more than the row group's {rows} rows");
                    offsets[row] = elementBase + elem;
                    bool isList = d >= listLevel;
                    listValid[row] = isList;
                    if (!isList) nullLists++;
                    row++;
                }
                else if (row == 0) throw Error("the first entry continues a list that never started (repetition level 1)");
                else if (d <= listLevel) throw Error($"entry {entry + i} continues a list but is not an element (definition level {d})");
                if (d > listLevel)
                {
                    bool has = d == maxDef;
                    elemValid[elem++] = has;
                    if (has) present++; else nullElements++;
                }
            }
            entry += n;
            // Values are dense (present elements only): decode them in place of this page's elements, then spread over the nulls.
            var pageElems = values.Slice(firstElem, elem - firstElem);
            DecodeValues(decoder, page, dict, pageElems.Slice(0, present));
            if (present < pageElems.Length) Spread(pageElems, elemValid.Slice(firstElem, pageElems.Length), present);
        }
        if (row != rows) throw Error($"column chunk holds {row} rows but the row group has {rows}");
        offsets[rows] = elementBase + elem;
        return (elem, nullLists, nullElements);
    }
}
