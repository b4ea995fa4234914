using System.CommandLine;
using Joules.Progress;

namespace Joules.Cli.Commands;

/// <summary>Wiring shared by the trace commands that write: progress on stderr, and an interruption that says what was and was not written.</summary>
internal static class TraceRun
{
    public static ProgressReporter Progress(ParseResult p) => ProgressReporter.ForConsole(p.InvocationConfiguration.Error);

    /// <summary>Runs <paramref name="work"/>, which writes <paramref name="outPath"/> atomically; a cancellation (or any failure after one) becomes one line naming the output.</summary>
    public static T Writing<T>(ParseResult p, string outPath, CancellationToken cancel, Func<ProgressReporter, T> work)
    {
        var existed = File.Exists(outPath);
        using var progress = Progress(p);
        try
        {
            return work(progress);
        }
        catch (Exception e) when (cancel.IsCancellationRequested && e is not OutOfMemoryException)
        {
            throw new OperationCanceledException(
                existed ? $"{outPath} was not written; the previous file is unchanged" : $"{outPath} was not written (no partial file is left)", e, cancel);
        }
    }

    /// <summary>Prints an import report: facts to stdout, warnings to stderr.</summary>
    public static void PrintReport(ParseResult p, IEnumerable<string> lines)
    {
        foreach (var line in lines)
            (line.StartsWith("warning:", StringComparison.Ordinal) ? p.InvocationConfiguration.Error : p.InvocationConfiguration.Output).WriteLine(line);
    }

    public static void Warn(ParseResult p, string message) => p.InvocationConfiguration.Error.WriteLine($"warning: {message}");
}
