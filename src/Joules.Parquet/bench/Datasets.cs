namespace Joules.Parquet.Bench;

/// <summary>Kinds of benchmark column: what the values mean and which array holds them.</summary>
public enum BenchKind { Int64, Timestamp, Int32, Double, String, ListInt64 }

/// <summary>One column of a benchmark table: its name, kind, nullability and the arrays holding its rows.</summary>
public sealed class BenchColumn
{
    /// <param name="nullable">Hold optional numbers as <c>T?[]</c> (ParquetSharp's natural shape) instead of values plus a validity array.</param>
    public BenchColumn(string name, BenchKind kind, bool optional, int rows, bool nullable = false)
    {
        Name = name;
        Kind = kind;
        Optional = optional;
        bool boxed = nullable && optional;
        switch (kind)
        {
            case BenchKind.Int64 or BenchKind.Timestamp when boxed: NullableLongs = new long?[rows]; break;
            case BenchKind.Int64 or BenchKind.Timestamp: Longs = new long[rows]; break;
            case BenchKind.Int32 when boxed: NullableInts = new int?[rows]; break;
            case BenchKind.Int32: Ints = new int[rows]; break;
            case BenchKind.Double when boxed: NullableDoubles = new double?[rows]; break;
            case BenchKind.Double: Doubles = new double[rows]; break;
            case BenchKind.String: Strings = new string?[rows]; break;
            case BenchKind.ListInt64 when nullable: Jagged = new long[]?[rows]; break;
            case BenchKind.ListInt64: Offsets = new int[rows + 1]; Longs = []; break;
        }
        if (optional && !boxed && kind != BenchKind.String) Validity = new bool[rows];
    }

    /// <summary>The list our reader returned last, decoded into again on the next pass.</summary>
    public ListColumnData<long>? OursList { get; set; }

    public long?[]? NullableLongs { get; }
    public int?[]? NullableInts { get; }
    public double?[]? NullableDoubles { get; }
    /// <summary>List columns in ParquetSharp's shape: one array per row, null for a null list.</summary>
    public long[]?[]? Jagged { get; }

    public string Name { get; }
    public BenchKind Kind { get; }
    public bool Optional { get; }
    public long[]? Longs { get; set; }
    public int[]? Ints { get; }
    public double[]? Doubles { get; }
    public string?[]? Strings { get; }
    /// <summary>List columns: list i is <see cref="Longs"/>[Offsets[i]..Offsets[i+1]].</summary>
    public int[]? Offsets { get; }
    /// <summary>Null marks of optional value columns (true = present); strings mark nulls with null references.</summary>
    public bool[]? Validity { get; }

    /// <summary>Bytes the arrays take (string contents not counted).</summary>
    public long ArrayBytes => (Longs?.LongLength ?? 0) * 8 + (Ints?.LongLength ?? 0) * 4 + (Doubles?.LongLength ?? 0) * 8
        + (Strings?.LongLength ?? 0) * IntPtr.Size + (Offsets?.LongLength ?? 0) * 4 + (Validity?.LongLength ?? 0)
        + (NullableLongs?.LongLength ?? 0) * 16 + (NullableInts?.LongLength ?? 0) * 8 + (NullableDoubles?.LongLength ?? 0) * 16
        + (Jagged?.LongLength ?? 0) * IntPtr.Size;
}

/// <summary>A benchmark table: columns of equal row count, as the caller of a reader or writer holds them.</summary>
public sealed class BenchTable
{
    public BenchTable(int rows, IReadOnlyList<BenchColumn> columns)
    {
        Rows = rows;
        Columns = columns;
    }

    public int Rows { get; }
    public IReadOnlyList<BenchColumn> Columns { get; }

    /// <summary>An order-sensitive checksum over every value and null, so two readers can be shown to read the same data.</summary>
    public long Checksum()
    {
        long h = 17;
        foreach (var c in Columns)
        {
            for (int i = 0; i < Rows; i++)
            {
                bool isNull = c.Validity is { } v ? !v[i]
                    : c.Strings is { } s ? s[i] is null
                    : c.NullableLongs is { } nl ? nl[i] is null
                    : c.NullableInts is { } ni ? ni[i] is null
                    : c.NullableDoubles is { } nd ? nd[i] is null
                    : c.Jagged is { } j && j[i] is null;
                long x = isNull ? 0x5bd1e995 : c.Kind switch
                {
                    BenchKind.Int64 or BenchKind.Timestamp => c.Longs?[i] ?? c.NullableLongs![i]!.Value,
                    BenchKind.Int32 => c.Ints?[i] ?? c.NullableInts![i]!.Value,
                    BenchKind.Double => BitConverter.DoubleToInt64Bits(c.Doubles?[i] ?? c.NullableDoubles![i]!.Value),
                    BenchKind.String => StableHash(c.Strings![i]!),
                    _ => ListHash(c, i),
                };
                h = unchecked(h * 1_000_003 + x);
            }
        }
        return h;
    }

    // string.GetHashCode differs between processes; the checksum must not.
    private static long StableHash(string s)
    {
        long h = s.Length;
        foreach (char ch in s) h = unchecked(h * 131 + ch);
        return h;
    }

    private static long ListHash(BenchColumn c, int row)
    {
        if (c.Jagged is { } j)
        {
            long hj = j[row]!.Length;
            foreach (var v in j[row]!) hj = unchecked(hj * 31 + v);
            return hj;
        }
        long h = c.Offsets![row + 1] - c.Offsets[row];
        for (int k = c.Offsets[row]; k < c.Offsets[row + 1]; k++) h = unchecked(h * 31 + c.Longs![k]);
        return h;
    }

    public long ArrayBytes => Columns.Sum(c => c.ArrayBytes);

    /// <summary>
    /// Bytes the caller's data takes: the arrays, each distinct string object once, and the per-row arrays of jagged lists.
    /// Counted from the data itself, so buffers a library keeps (pooled or not) never pass as data.
    /// </summary>
    public long DecodedBytes()
    {
        long bytes = ArrayBytes;
        var seen = new HashSet<object>(ReferenceEqualityComparer.Instance);
        foreach (var c in Columns)
        {
            if (c.Strings != null)
                foreach (var s in c.Strings)
                    if (s != null && seen.Add(s)) bytes += (22 + 2L * s.Length + 7) & ~7L;
            if (c.Jagged != null)
                foreach (var a in c.Jagged)
                    if (a != null) bytes += (24 + 8L * a.Length + 7) & ~7L;
        }
        return bytes;
    }
}

/// <summary>The benchmark data sets: what each table holds, how its rows are generated, and which library writes its input file.</summary>
public sealed record Dataset(string Name, string Description, string Writer, BenchKind[] Kinds, string[] Names, bool[] Optional, Action<BenchTable, Random> Fill, int RowGroupRows = 1_000_000, int RowsDivisor = 1)
{
    private static readonly string[] Models = ["llama-3.1-8b", "llama-3.1-70b", "mistral-7b", "qwen2.5-7b", "llama-3.2-1b", "llama-3.2-3b"];
    private static readonly string[] Tenants = Enumerable.Range(0, 40).Select(i => $"tenant-{i:D3}").ToArray();

    /// <summary>An empty table with this data set's columns, sized for <paramref name="rows"/> rows (list values grow as they are filled).</summary>
    public BenchTable Allocate(int rows, bool nullable = false) =>
        new(rows, Kinds.Select((k, i) => new BenchColumn(Names[i], k, Optional[i], rows, nullable)).ToArray());

    public BenchTable Generate(int rows, int seed = 42)
    {
        var t = Allocate(rows);
        Fill(t, new Random(seed));
        return t;
    }

    /// <summary>The canonical trace (DESIGN.md): ids, arrival times, token counts, and two optional low-cardinality strings.</summary>
    public static readonly Dataset Trace = new("trace", "canonical trace: request_id INT64, arrival_time TIMESTAMP(us), input/output_tokens INT32, model and tenant optional STRING",
        "joules", [BenchKind.Int64, BenchKind.Timestamp, BenchKind.Int32, BenchKind.Int32, BenchKind.String, BenchKind.String],
        ["request_id", "arrival_time", "input_tokens", "output_tokens", "model", "tenant"], [false, false, false, false, true, true],
        (t, rng) =>
        {
            var c = t.Columns;
            long time = 1_704_067_200_000_000;
            for (int i = 0; i < t.Rows; i++)
            {
                c[0].Longs![i] = i;
                time += rng.Next(0, 20_000);
                c[1].Longs![i] = time;
                c[2].Ints![i] = 16 + (int)(rng.NextDouble() * rng.NextDouble() * 8000);
                c[3].Ints![i] = 1 + rng.Next(0, 1024);
                c[4].Strings![i] = Models[Math.Min(Models.Length - 1, (int)(-Math.Log(1 - rng.NextDouble()) * 1.5))];
                c[5].Strings![i] = rng.Next(50) == 0 ? null : Tenants[rng.Next(Tenants.Length)];
            }
        });

    /// <summary>Arrow C++ (through ParquetSharp) writes nullable INT64 ids drawn from 50,000 values: dictionary pages with RLE_DICTIONARY indices, as pyarrow writes them.</summary>
    public static readonly Dataset ArrowInt64 = new("arrow-int64-dict", "Arrow-written optional INT64, 50,000 distinct values (dictionary-encoded), 0.1% nulls",
        "parquetsharp", [BenchKind.Int64], ["id"], [true],
        (t, rng) =>
        {
            var col = t.Columns[0];
            for (int i = 0; i < t.Rows; i++)
            {
                col.Validity![i] = rng.Next(1000) != 0;
                col.Longs![i] = col.Validity[i] ? 1_000_000_007L * rng.Next(50_000) : 0;
            }
        });

    /// <summary>Arrow-written nullable DOUBLE prices from 20,000 values: dictionary-encoded.</summary>
    public static readonly Dataset ArrowDouble = new("arrow-double-dict", "Arrow-written optional DOUBLE, 20,000 distinct values (dictionary-encoded), 0.1% nulls",
        "parquetsharp", [BenchKind.Double], ["price"], [true],
        (t, rng) =>
        {
            var col = t.Columns[0];
            for (int i = 0; i < t.Rows; i++)
            {
                col.Validity![i] = rng.Next(1000) != 0;
                col.Doubles![i] = col.Validity[i] ? Math.Round(rng.Next(20_000) * 0.0137 + 0.5, 4) : 0;
            }
        });

    /// <summary>Trace rows with Mooncake-style prefix-cache block hashes: a nullable LIST&lt;INT64&gt; of 0-40 ids per request.</summary>
    public static readonly Dataset HashIds = new("trace-hash-ids", "request_id INT64 and hash_ids optional LIST<INT64> (0-40 block ids per row, 1% null lists); a tenth of --rows rows",
        "joules", [BenchKind.Int64, BenchKind.ListInt64], ["request_id", "hash_ids"], [false, true],
        (t, rng) =>
        {
            var ids = t.Columns[0];
            var list = t.Columns[1];
            var values = new List<long>(t.Rows * 20);
            long next = 0;
            for (int i = 0; i < t.Rows; i++)
            {
                ids.Longs![i] = i;
                list.Offsets![i] = values.Count;
                list.Validity![i] = rng.Next(100) != 0;
                if (!list.Validity[i]) continue;
                int n = rng.Next(41);
                // Shared prefixes: most lists start with a popular block, then fresh ones.
                long start = rng.Next(4) == 0 ? rng.Next(1000) : (next += n);
                for (int k = 0; k < n; k++) values.Add(start + k);
            }
            list.Offsets![t.Rows] = values.Count;
            list.Longs = values.ToArray();
        }, RowGroupRows: 100_000, RowsDivisor: 10);

    public static readonly Dataset[] All = [Trace, ArrowInt64, ArrowDouble, HashIds];
}

/// <summary>Conversions between the two shapes a table can take.</summary>
public static class BenchTableShapes
{
    /// <summary>The same rows with optional numbers as <c>T?[]</c> and lists as jagged arrays (what ParquetSharp writes from and reads into).</summary>
    public static BenchTable ToNullable(this BenchTable t)
    {
        var cols = new List<BenchColumn>();
        foreach (var c in t.Columns)
        {
            var n = new BenchColumn(c.Name, c.Kind, c.Optional, t.Rows, nullable: true);
            for (int i = 0; i < t.Rows; i++)
            {
                bool present = c.Validity?[i] ?? true;
                if (n.NullableLongs != null) n.NullableLongs[i] = present ? c.Longs![i] : null;
                else if (n.NullableInts != null) n.NullableInts[i] = present ? c.Ints![i] : null;
                else if (n.NullableDoubles != null) n.NullableDoubles[i] = present ? c.Doubles![i] : null;
                else if (n.Jagged != null) n.Jagged[i] = present ? c.Longs.AsSpan(c.Offsets![i], c.Offsets[i + 1] - c.Offsets[i]).ToArray() : null;
                else if (n.Longs != null) n.Longs[i] = c.Longs![i];
                else if (n.Ints != null) n.Ints[i] = c.Ints![i];
                else if (n.Doubles != null) n.Doubles[i] = c.Doubles![i];
                else n.Strings![i] = c.Strings![i];
            }
            cols.Add(n);
        }
        return new BenchTable(t.Rows, cols);
    }
}
