using Joules.Parquet.Encodings;
using Joules.Parquet.Format;

namespace Joules.Parquet;

// Primitive (non-list) columns: one level entry per row, decoded straight into the destination span.
internal sealed partial class ColumnChunkReader
{
    private bool[] _validScratch = [];

    /// <summary>The null marks of the last <see cref="ReadFlat{T}"/> call that was given no validity span.</summary>
    public ReadOnlySpan<bool> ScratchValidity(int rows) => _validScratch.AsSpan(0, rows);

    /// <summary>
    /// Decodes a primitive chunk into <paramref name="values"/> (exactly the row group's rows) and, for optional columns,
    /// <paramref name="validity"/> (same length, or empty when the caller wants no null marks); returns the number of nulls.
    /// With an empty <paramref name="validity"/>, nulls are an error the caller turns into a message.
    /// </summary>
    public int ReadFlat<T>(int rowGroup, byte[] buffer, int offset, int length, ColumnMetaData meta, Span<T> values, Span<bool> validity)
    {
        Begin(rowGroup, buffer, offset, length, meta);
        var decoder = Decoder<T>();
        int rows = values.Length;
        bool optional = _column.MaxDefinitionLevel > 0;
        if (optional && validity.IsEmpty)
        {
            Pooled.Ensure(ref _validScratch, rows);
            validity = _validScratch.AsSpan(0, rows);
        }
        return GuardFlat(decoder, values, validity, rows, optional);
    }

    private int GuardFlat<T>(ValueDecoder<T> decoder, Span<T> values, Span<bool> validity, int rows, bool optional)
    {
        try
        {
            int nulls = DecodeFlat(decoder, values, validity, rows, optional);
            _page = -1;
            return nulls;
        }
        catch (Exception e) when (Locate(e) is { } located) { throw located; }
    }

    private int DecodeFlat<T>(ValueDecoder<T> decoder, Span<T> values, Span<bool> validity, int rows, bool optional)
    {
        T[]? dict = null;
        int row = 0, nulls = 0;
        while (row < rows)
        {
            var kind = NextPage(out var page);
            if (kind == PageKind.End) break;
            if (kind == PageKind.Dictionary)
            {
                dict = Dictionary(decoder, page);
                continue;
            }
            int n = page.NumValues;
            if (n > rows - row) throw Error($"page holds {n} values but only {rows - row} rows of the row group are left");
            int present = n;
            if (optional)
            {
                var valid = validity.Slice(row, n);
                present = RleBitPacked.DecodeBits(page.Definition, valid);
                nulls += n - present;
            }
            var dst = values.Slice(row, n);
            if (present == n) DecodeValues(decoder, page, dict, dst);
            else DecodeSpaced(decoder, page, dict, dst, validity.Slice(row, n), present);
            row += n;
        }
        if (row != rows) throw Error($"column chunk holds {row} values but the row group has {rows} rows");
        return nulls;
    }

    /// <summary>
    /// A page with nulls: dictionary indices and fixed-width PLAIN values are decoded run by run of present rows straight into
    /// those rows (null rows cleared); other encodings decode densely and are spread afterwards.
    /// </summary>
    private void DecodeSpaced<T>(ValueDecoder<T> decoder, in DataPage page, T[]? dict, Span<T> dst, ReadOnlySpan<bool> valid, int present)
    {
        bool dictionary = page.Encoding is ValueEncoding.RleDictionary or ValueEncoding.PlainDictionary;
        int width = typeof(T).IsValueType && page.Encoding == ValueEncoding.Plain && _column.PhysicalType is PhysicalType.Int32 or PhysicalType.Int64 or PhysicalType.Float or PhysicalType.Double
            ? System.Runtime.CompilerServices.Unsafe.SizeOf<T>() : 0;
        if (!dictionary && width == 0)
        {
            DecodeValues(decoder, page, dict, dst.Slice(0, present));
            Spread(dst, valid, present);
            return;
        }
        if (dictionary)
        {
            if (dict == null) throw Error("dictionary-encoded page but the chunk has no dictionary page");
            if (page.Values.Length < 1 && present > 0) throw Error("dictionary indices missing");
        }
        else if ((long)present * width > page.Values.Length) throw Error($"page holds {page.Values.Length} bytes of values, {(long)present * width} needed");
        var indices = dictionary && present > 0 ? new DictionaryIndices(page.Values.Slice(1), page.Values[0]) : default;
        // Fixed-width PLAIN values are the numbers' little-endian bytes: view them as the element type (width checked above).
        var plain = dictionary ? default : System.Runtime.InteropServices.MemoryMarshal.CreateReadOnlySpan(
            ref System.Runtime.CompilerServices.Unsafe.As<byte, T>(ref System.Runtime.InteropServices.MemoryMarshal.GetReference(page.Values)), present);
        var entries = dictionary ? new ReadOnlySpan<T>(dict, 0, _dictCount) : default;
        int i = 0, taken = 0;
        while (i < dst.Length)
        {
            int a = valid.Slice(i).IndexOf(true);
            if (a < 0) { dst.Slice(i).Clear(); break; }
            a += i;
            dst.Slice(i, a - i).Clear();
            int b = valid.Slice(a).IndexOf(false);
            b = b < 0 ? dst.Length : a + b;
            if (dictionary) indices.Gather(entries, dst.Slice(a, b - a), ref _indices);
            else plain.Slice(taken, b - a).CopyTo(dst.Slice(a, b - a));
            taken += b - a;
            i = b;
        }
    }

    /// <summary>Values were decoded densely at the front; moves them to their rows from the back, in place, and clears null rows.</summary>
    private static void Spread<T>(Span<T> vals, ReadOnlySpan<bool> valid, int present)
    {
        int k = present - 1;
        for (int i = vals.Length - 1; i > k; i--)
        {
            if (valid[i]) vals[i] = vals[k--];
            else vals[i] = default!;
        }
    }
}
