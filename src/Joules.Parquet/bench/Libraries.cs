namespace Joules.Parquet.Bench;

/// <summary>One Parquet implementation under test: writes a table to a file and reads a file back into a caller's table.</summary>
public interface IBenchLibrary
{
    string Name { get; }
    /// <summary>Whether this library's tables hold optional numbers as <c>T?[]</c> and lists as jagged arrays.</summary>
    bool NullableShape { get; }
    void Write(string path, Dataset dataset, BenchTable table, string codec, int rowGroupRows);
    /// <summary>Reads every column of every row group into <paramref name="into"/> (allocated for the file's row count).</summary>
    void Read(string path, BenchTable into);
}

/// <summary>The libraries the benchmark knows, by name.</summary>
public static class Libraries
{
    public static readonly IBenchLibrary[] All = [new OursLibrary(), new ParquetSharpLibrary()];

    public static IBenchLibrary Get(string name) => All.FirstOrDefault(l => l.Name == name)
        ?? throw new ArgumentException($"unknown library '{name}' (known: {string.Join(", ", All.Select(l => l.Name))})");
}
