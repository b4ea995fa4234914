namespace Joules.Parquet;

/// <summary>Limits that keep a corrupt or hostile file from making the reader allocate without bound.</summary>
public sealed class ParquetReadOptions
{
    /// <summary>Largest footer accepted (default 256 MiB).</summary>
    public int MaxFooterBytes { get; init; } = 256 << 20;
    /// <summary>Largest uncompressed page accepted (default 512 MiB).</summary>
    public int MaxPageBytes { get; init; } = 512 << 20;
    /// <summary>Largest column chunk read into memory (default 1 GiB).</summary>
    public long MaxChunkBytes { get; init; } = 1L << 30;
    /// <summary>Largest decoded column of one row group (default 2 GiB).</summary>
    public long MaxColumnBytes { get; init; } = 2L << 30;

    public static readonly ParquetReadOptions Default = new();
}
