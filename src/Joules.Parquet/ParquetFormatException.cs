namespace Joules.Parquet;

/// <summary>A Parquet file is malformed or uses a feature this library does not support; the message names file, column, row group and page where known.</summary>
public sealed class ParquetFormatException : Exception
{
    public ParquetFormatException(string message) : base(message) { }
    public ParquetFormatException(string message, Exception inner) : base(message, inner) { }

    /// <summary>The file the error was found in, when known.</summary>
    public string? File { get; init; }
    /// <summary>The column the error was found in, when known.</summary>
    public string? Column { get; init; }
    /// <summary>The row group index, when known.</summary>
    public int? RowGroup { get; init; }
    /// <summary>The page index within the column chunk, when known.</summary>
    public int? Page { get; init; }

    /// <summary>True when the file is well formed but uses a feature outside what this library reads (nested columns, an unknown codec).</summary>
    public bool IsNotSupported { get; init; }

    /// <summary>Builds an exception whose message starts with the location (file, row group, column, page) so one line tells the whole story.</summary>
    internal static ParquetFormatException At(string? file, int? rowGroup, string? column, int? page, string message, Exception? inner = null, bool notSupported = false)
    {
        var where = new List<string>();
        if (file != null) where.Add(file);
        if (rowGroup != null) where.Add($"row group {rowGroup}");
        if (column != null) where.Add($"column '{column}'");
        if (page != null) where.Add($"page {page}");
        var text = where.Count > 0 ? $"{string.Join(", ", where)}: {message}" : message;
        return inner == null
            ? new ParquetFormatException(text) { File = file, RowGroup = rowGroup, Column = column, Page = page, IsNotSupported = notSupported }
            : new ParquetFormatException(text, inner) { File = file, RowGroup = rowGroup, Column = column, Page = page, IsNotSupported = notSupported };
    }
}
