using System.Diagnostics;

namespace Joules.Parquet;

/// <summary>Mutation fuzzer for the reader: corrupts seed files and checks that every failure is a <see cref="ParquetFormatException"/> and nothing hangs.</summary>
public sealed class ParquetFuzzer
{
    private readonly List<(string Name, byte[] Bytes)> _seeds;

    /// <summary>Tight limits so a mutated size field cannot make a single case allocate much.</summary>
    public static readonly ParquetReadOptions FuzzLimits = new()
    {
        MaxFooterBytes = 4 << 20, MaxPageBytes = 16 << 20, MaxChunkBytes = 16 << 20, MaxColumnBytes = 64 << 20,
    };

    public ParquetFuzzer(IEnumerable<string> seedFiles)
    {
        _seeds = seedFiles.Select(f => (Path.GetFileName(f), File.ReadAllBytes(f))).ToList();
        if (_seeds.Count == 0) throw new ArgumentException("the fuzzer needs at least one seed file");
    }

    /// <summary>Outcome of a fuzz run.</summary>
    public sealed record Report(int Cases, int Read, int Rejected, IReadOnlyList<string> Failures, TimeSpan Elapsed);

    /// <summary>Runs <paramref name="cases"/> mutated reads; a case that throws anything but ParquetFormatException, or runs past <paramref name="perCaseTimeout"/>, is a failure.</summary>
    public Report Run(int cases, int seed, TimeSpan perCaseTimeout, Action<int>? progress = null)
    {
        var rng = new Random(seed);
        var failures = new List<string>();
        int read = 0, rejected = 0;
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < cases; i++)
        {
            var (name, original) = _seeds[rng.Next(_seeds.Count)];
            var caseSeed = rng.Next();
            var bytes = Mutate(original, new Random(caseSeed), out var description);
            Exception? error = null;
            var task = Task.Run(() =>
            {
                try { ReadEverything(bytes, name); return true; }
                catch (ParquetFormatException) { return false; }
            });
            bool finished;
            try { finished = task.Wait(perCaseTimeout); }
            catch (AggregateException e) { error = e.InnerException ?? e; finished = true; }
            if (!finished) failures.Add($"case {i} ({name}, seed {caseSeed}, {description}): no result within {perCaseTimeout.TotalSeconds:0.#} s");
            else if (error != null) failures.Add($"case {i} ({name}, seed {caseSeed}, {description}): {error.GetType().Name}: {error.Message}\n{error.StackTrace}");
            else if (task.Result) read++;
            else rejected++;
            progress?.Invoke(i + 1);
        }
        return new Report(cases, read, rejected, failures, sw.Elapsed);
    }

    /// <summary>Opens the bytes and reads every readable column of every row group.</summary>
    public static void ReadEverything(byte[] bytes, string name)
    {
        using var reader = ParquetFileReader.Open(new MemoryStream(bytes, writable: false), name, FuzzLimits);
        var columns = reader.ReadableColumns;
        for (int g = 0; g < reader.RowGroupCount; g++) reader.ReadRowGroup(g, columns);
    }

    private static readonly int[] Interesting = [0, 1, -1, 127, 128, 255, 0x7FFF, 0xFFFF, int.MaxValue, int.MinValue, 1 << 20, 1 << 30];

    /// <summary>One to four random edits: bit flips, byte overwrites, interesting 32-bit values, truncation, insertion, deletion; half of them aimed at the footer, where the Thrift metadata lives.</summary>
    public static byte[] Mutate(byte[] original, Random rng, out string description)
    {
        var data = new List<byte>(original);
        var what = new List<string>();
        int edits = 1 + rng.Next(4);
        for (int e = 0; e < edits && data.Count > 0; e++)
        {
            int footerLen = data.Count >= 8 ? Math.Clamp(BitConverter.ToInt32(data.GetRange(data.Count - 8, 4).ToArray()), 0, data.Count - 8) : 0;
            int pos = rng.Next(2) == 0 && footerLen > 0 ? data.Count - 8 - footerLen + rng.Next(footerLen + 8) : rng.Next(data.Count);
            pos = Math.Clamp(pos, 0, data.Count - 1);
            switch (rng.Next(7))
            {
                case 0: data[pos] ^= (byte)(1 << rng.Next(8)); what.Add($"flip@{pos}"); break;
                case 1: data[pos] = (byte)rng.Next(256); what.Add($"byte@{pos}"); break;
                case 2:
                {
                    int v = Interesting[rng.Next(Interesting.Length)];
                    for (int k = 0; k < 4 && pos + k < data.Count; k++) data[pos + k] = (byte)(v >> (8 * k));
                    what.Add($"int{v}@{pos}");
                    break;
                }
                case 3: data.RemoveRange(pos, data.Count - pos); what.Add($"truncate@{pos}"); break;
                case 4:
                {
                    int n = 1 + rng.Next(16);
                    var ins = new byte[n];
                    rng.NextBytes(ins);
                    data.InsertRange(pos, ins);
                    what.Add($"insert{n}@{pos}");
                    break;
                }
                case 5:
                {
                    int n = Math.Min(1 + rng.Next(16), data.Count - pos);
                    data.RemoveRange(pos, n);
                    what.Add($"delete{n}@{pos}");
                    break;
                }
                default:
                {
                    // A varint-style byte with the continuation bit set lengthens Thrift sizes and counts.
                    data[pos] = (byte)(data[pos] | 0x80);
                    what.Add($"varint@{pos}");
                    break;
                }
            }
        }
        description = string.Join(",", what);
        return data.ToArray();
    }
}
