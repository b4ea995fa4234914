namespace Joules.Parquet.Tests;

/// <summary>Random list columns with every edge the format has: null lists, empty lists, null elements, and lists long enough to cross pages.</summary>
public sealed record ListSpec(int Rows, int Seed, int NullListPercent, int EmptyPercent, int NullElementPercent, int MaxLength, int LongListEvery)
{
    public override string ToString() =>
        $"rows={Rows} seed={Seed} nullLists={NullListPercent}% empty={EmptyPercent}% nullElements={NullElementPercent}% maxLen={MaxLength} longEvery={LongListEvery}";
}

/// <summary>Builds the list test table: id INT64, hash_ids optional LIST&lt;INT64&gt;, tokens LIST&lt;INT32 optional&gt;, tags optional LIST&lt;STRING optional&gt;.</summary>
internal static class ListSamples
{
    public static readonly ParquetSchema Schema = new(
        ParquetColumn.Int64("id"),
        ParquetColumn.List("hash_ids", ParquetColumn.Int64("element"), optional: true),
        ParquetColumn.List("tokens", ParquetColumn.Int32("element", optional: true)),
        ParquetColumn.List("tags", ParquetColumn.String("element", optional: true), optional: true));

    private static readonly string[] Words = ["", "a", "llama", "ünïcødé", "日本語", "emoji 😀", "x y", new string('z', 300)];

    public static ColumnData[] Make(ListSpec spec)
    {
        var rng = new Random(spec.Seed);
        int n = spec.Rows;
        var ids = new long[n];
        var hashes = new Lists<long>(n); var tokens = new Lists<int>(n); var tags = new Lists<string?>(n);
        for (int i = 0; i < n; i++)
        {
            ids[i] = i;
            Row(hashes, optional: true, _ => (long)rng.Next(2000) * 1_000_003 - rng.Next(3), nullable: false);
            Row(tokens, optional: false, _ => rng.Next(-5, 50_000), nullable: true);
            Row(tags, optional: true, k => Words[rng.Next(Words.Length)] + (rng.Next(3) == 0 ? "" : (k % 7).ToString()), nullable: true);
        }
        return [ColumnData.From(ids), hashes.Build(), tokens.Build(), tags.Build()];

        void Row<T>(Lists<T> lists, bool optional, Func<int, T> value, bool nullable)
        {
            if (optional && rng.Next(100) < spec.NullListPercent) { lists.Null(); return; }
            int len = rng.Next(100) < spec.EmptyPercent ? 0
                : spec.LongListEvery > 0 && rng.Next(spec.LongListEvery) == 0 ? 3000 + rng.Next(3000)
                : rng.Next(spec.MaxLength + 1);
            lists.Begin();
            for (int k = 0; k < len; k++)
            {
                if (nullable && rng.Next(100) < spec.NullElementPercent) lists.AddNull();
                else lists.Add(value(k));
            }
        }
    }

    /// <summary>Accumulates flat offsets, values and validity for <see cref="ColumnData.FromLists{T}"/>.</summary>
    private sealed class Lists<T>(int rows)
    {
        private readonly int[] _offsets = new int[rows + 1];
        private readonly bool[] _valid = new bool[rows];
        private readonly List<T> _values = new();
        private readonly List<bool> _elementValid = new();
        private int _row;

        public void Null() { _offsets[++_row] = _values.Count; }
        public void Begin() { _valid[_row] = true; _offsets[++_row] = _values.Count; }
        public void Add(T v) { _values.Add(v); _elementValid.Add(true); _offsets[_row] = _values.Count; }
        public void AddNull() { _values.Add(default!); _elementValid.Add(false); _offsets[_row] = _values.Count; }

        public ListColumnData<T> Build() => ColumnData.FromLists(_offsets, _values.ToArray(), _valid, _elementValid.ToArray());
    }
}
