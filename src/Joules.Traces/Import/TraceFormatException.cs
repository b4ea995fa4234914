namespace Joules.Traces.Import;

/// <summary>A row of a trace file that cannot be read, with the file, line and column at fault and what was expected there.</summary>
public sealed class TraceFormatException : FormatException
{
    public TraceFormatException(string file, long line, string column, string expected, string? found)
        : base($"{file}:{line}: column '{column}': expected {expected}, found {Show(found)}")
    {
        File = file;
        Line = line;
        Column = column;
        Expected = expected;
        Found = found;
    }

    public string File { get; }
    /// <summary>1-based line number in the file (the header is line 1 for CSV).</summary>
    public long Line { get; }
    public string Column { get; }
    public string Expected { get; }
    public string? Found { get; }

    /// <summary>The reason without the location, used to group skipped rows in an import report.</summary>
    public string Reason => $"column '{Column}': expected {Expected}";

    private static string Show(string? s) => s is null ? "nothing (missing field)" : s.Length == 0 ? "an empty field" : $"'{(s.Length > 60 ? s[..60] + "…" : s)}'";
}
