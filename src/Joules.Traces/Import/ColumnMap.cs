namespace Joules.Traces.Import;

/// <summary>Which source column feeds each canonical field; null means the source has no such column.</summary>
public sealed record ColumnMap(
    string? Arrival,
    string Input,
    string Output,
    string? Model = null,
    string? Tenant = null,
    string? Session = null,
    string? Slo = null,
    string? RequestId = null)
{
    /// <summary>Parses `arrival=COL,input=COL,output=COL[,model=COL,tenant=COL,session=COL,slo=COL,id=COL]`.</summary>
    public static ColumnMap Parse(string spec)
    {
        var d = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var part in spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = part.IndexOf('=');
            if (eq <= 0 || eq == part.Length - 1)
                throw new ArgumentException($"--map: '{part}' is not FIELD=COLUMN (fields: arrival, input, output, model, tenant, session, slo, id)");
            var key = part[..eq].Trim().ToLowerInvariant();
            if (key is not ("arrival" or "input" or "output" or "model" or "tenant" or "session" or "slo" or "id"))
                throw new ArgumentException($"--map: unknown field '{key}' (fields: arrival, input, output, model, tenant, session, slo, id)");
            d[key] = part[(eq + 1)..].Trim();
        }
        if (!d.TryGetValue("input", out var input) || !d.TryGetValue("output", out var output))
            throw new ArgumentException("--map must name at least input=COLUMN and output=COLUMN");
        return new ColumnMap(d.GetValueOrDefault("arrival"), input, output, d.GetValueOrDefault("model"),
            d.GetValueOrDefault("tenant"), d.GetValueOrDefault("session"), d.GetValueOrDefault("slo"), d.GetValueOrDefault("id"));
    }
}
