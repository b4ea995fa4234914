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
            if (_validScratch.Length < rows) _validScratch = new bool[rows];
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
            DecodeValues(decoder, page, dict, dst.Slice(0, present));
            if (present < n) Spread(dst, validity.Slice(row, n), present);
            row += n;
        }
        if (row != rows) throw Error($"column chunk holds {row} values but the row group has {rows} rows");
        return nulls;
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
