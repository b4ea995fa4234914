namespace Joules.Traces.Canonical;

/// <summary>Which optional string columns a canonical file carries; columns that would be all null are left out, which keeps files small and reading fast.</summary>
[Flags]
public enum OptionalColumns
{
    None = 0,
    Model = 1,
    Tenant = 2,
    SessionId = 4,
    SloClass = 8,
    /// <summary>The prompt's block hashes (LIST&lt;INT64&gt; <c>hash_ids</c>, Mooncake's), for prefix caching.</summary>
    HashIds = 16,
    All = Model | Tenant | SessionId | SloClass | HashIds,
}

/// <summary>Helpers to decide the optional columns of a canonical file from its data or its source.</summary>
public static class OptionalColumnsOf
{
    /// <summary>The optional columns that hold at least one value in <paramref name="requests"/>.</summary>
    public static OptionalColumns Data(IEnumerable<TraceRequest> requests)
    {
        var c = OptionalColumns.None;
        foreach (var r in requests)
        {
            if (r.Model is not null) c |= OptionalColumns.Model;
            if (r.Tenant is not null) c |= OptionalColumns.Tenant;
            if (r.SessionId is not null) c |= OptionalColumns.SessionId;
            if (r.SloClass is not null) c |= OptionalColumns.SloClass;
            if (r.HashIds is not null) c |= OptionalColumns.HashIds;
            if (c == OptionalColumns.All) break;
        }
        return c;
    }

    /// <summary>The optional columns of a canonical Parquet file's schema; every column for other files, whose contents are unknown until read.</summary>
    public static OptionalColumns File(string path)
    {
        if (Import.TraceFile.Sniff(path) != Import.TraceFile.Container.Parquet) return OptionalColumns.All;
        using var reader = Joules.Parquet.ParquetFileReader.Open(path);
        var c = OptionalColumns.None;
        if (reader.Schema.Contains("model")) c |= OptionalColumns.Model;
        if (reader.Schema.Contains("tenant")) c |= OptionalColumns.Tenant;
        if (reader.Schema.Contains("session_id")) c |= OptionalColumns.SessionId;
        if (reader.Schema.Contains("slo_class")) c |= OptionalColumns.SloClass;
        if (reader.Schema.Contains("hash_ids")) c |= OptionalColumns.HashIds;
        return c;
    }
}
