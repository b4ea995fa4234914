using Xunit;

namespace Joules.Parquet.Tests;

/// <summary>Exact comparison of written and read values, lists and nulls included (floating point by bit pattern).</summary>
internal static class Cells
{
    public static bool Same(object? a, object? b) => (a, b) switch
    {
        (null, null) => true,
        (double x, double y) => BitConverter.DoubleToInt64Bits(x) == BitConverter.DoubleToInt64Bits(y),
        (float x, float y) => BitConverter.SingleToInt32Bits(x) == BitConverter.SingleToInt32Bits(y),
        (byte[] x, byte[] y) => x.AsSpan().SequenceEqual(y),
        (object?[] x, object?[] y) => x.Length == y.Length && x.Zip(y).All(p => Same(p.First, p.Second)),
        _ => Equals(a, b),
    };

    public static string Show(object? v) => v switch
    {
        null => "null",
        object?[] a => "[" + string.Join(",", a.Select(Show)) + "]",
        _ => v.ToString() ?? "",
    };

    /// <summary>Every row group of <paramref name="reader"/>, column by column, equals the whole-table <paramref name="expected"/>.</summary>
    /// <remarks>With <paramref name="reuse"/>, each row group is decoded into the previous one's arrays.</remarks>
    public static void AssertSameRows(IReadOnlyList<ColumnData> expected, ParquetFileReader reader, string what, bool reuse = true)
    {
        Assert.Equal(expected.Count == 0 ? 0 : expected[0].Count, reader.RowCount);
        int row = 0;
        foreach (var g in reader.ReadRowGroups(reuseBuffers: reuse))
        {
            for (int c = 0; c < expected.Count; c++)
            {
                var actual = g.Columns[c];
                for (int i = 0; i < g.RowCount; i++)
                {
                    var e = expected[c].GetValue(row + i);
                    var a = actual.GetValue(i);
                    if (!Same(e, a)) Assert.Fail($"{what}: column '{reader.Schema[c].Name}' row {row + i}: wrote {Show(e)}, read {Show(a)}");
                }
            }
            row += g.RowCount;
        }
        Assert.Equal(reader.RowCount, row);
    }
}
