namespace Joules.Parquet;

/// <summary>Compression codec for pages the writer produces.</summary>
public enum ParquetCodec { None, Snappy, Gzip, Zstd, Brotli, Lz4Raw }

/// <summary>How <see cref="ParquetFileWriter"/> lays out the file: codec, row-group size, dictionary use, metadata.</summary>
public sealed class ParquetWriteOptions
{
    public ParquetCodec Codec { get; init; } = ParquetCodec.Snappy;
    /// <summary>Codec level (0 = the codec's default); used by ZSTD, GZIP and BROTLI.</summary>
    public int CompressionLevel { get; init; }
    /// <summary>Largest number of rows in one row group; larger writes are split.</summary>
    public int RowGroupRows { get; init; } = 1_000_000;
    /// <summary>Target uncompressed size of one data page.</summary>
    public int DataPageBytes { get; init; } = 1 << 20;
    /// <summary>Dictionary-encode columns whose distinct values fit in <see cref="DictionaryPageBytes"/>; others fall back to PLAIN.</summary>
    public bool Dictionary { get; init; } = true;
    /// <summary>Largest dictionary page before a column chunk falls back to PLAIN.</summary>
    public int DictionaryPageBytes { get; init; } = 1 << 20;
    /// <summary>Key/value pairs stored in the footer.</summary>
    public IReadOnlyDictionary<string, string>? Metadata { get; init; }
    /// <summary>The footer's created_by string.</summary>
    public string CreatedBy { get; init; } = "joules-parquet version 0.1.0";
}
