using System.CommandLine;
using Spectre.Console;

namespace Joules.Cli.Commands;

/// <summary>Progress for long trace work: a Spectre progress bar on stderr when a person is watching, nothing when output is redirected or captured.</summary>
internal static class TraceProgress
{
    public static bool Interactive(ParseResult parse) =>
        ReferenceEquals(parse.InvocationConfiguration.Error, Console.Error) && !Console.IsErrorRedirected;

    /// <summary>Runs <paramref name="work"/>, giving it a callback that reports how many rows are done (call it every few thousand rows).</summary>
    public static T Run<T>(ParseResult parse, string label, long? total, Func<Action<long>, T> work)
    {
        if (!Interactive(parse)) return work(_ => { });
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        return console.Progress()
            .AutoClear(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(label, maxValue: total is > 0 ? total.Value : 1);
                task.IsIndeterminate = total is not > 0;
                var result = work(n =>
                {
                    task.Description = $"{label} {n:N0} rows";
                    if (total is > 0) task.Value = n;
                });
                task.Value = task.MaxValue;
                task.StopTask();
                return result;
            });
    }

    /// <summary>Passes a stream through, reporting progress every 65,536 rows and at the end.</summary>
    public static IEnumerable<TItem> Track<TItem>(IEnumerable<TItem> source, Action<long> report)
    {
        long n = 0;
        foreach (var item in source)
        {
            yield return item;
            if ((++n & 0xFFFF) == 0) report(n);
        }
        report(n);
    }
}
