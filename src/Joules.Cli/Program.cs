using System.CommandLine;
using System.Reflection;
using Joules.Cli.Commands;

namespace Joules.Cli;

/// <summary>Entry point of the `joules` command line: builds the command tree and turns failures into one clear line and a non-zero exit code.</summary>
public static class Program
{
    /// <summary>Shows stack traces for errors when given anywhere on the command line.</summary>
    public static readonly Option<bool> Verbose = new("--verbose", "-v")
    {
        Description = "Show more detail, including stack traces for errors",
        Recursive = true,
    };

    public static int Main(string[] args) => Run(args, Console.Out, Console.Error);

    /// <summary>Runs the CLI with the given arguments and writers (used by tests).</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var root = BuildRoot();
        var parse = root.Parse(args);
        var config = new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false };
        try
        {
            return parse.Invoke(config);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            var inner = e is AggregateException { InnerExceptions.Count: 1 } agg ? agg.InnerExceptions[0] : e;
            stderr.WriteLine($"error: {inner.Message}");
            if (parse.GetValue(Verbose)) stderr.WriteLine(inner.ToString());
            else if (!IsUserError(inner)) stderr.WriteLine("(this looks like a bug in joules; run again with --verbose for the stack trace)");
            return inner is OperationCanceledException ? 130 : 1;
        }
    }

    /// <summary>Errors that describe bad input or environment rather than a defect in Joules.</summary>
    private static bool IsUserError(Exception e) =>
        e is IOException or InvalidDataException or FormatException or ArgumentException or KeyNotFoundException
            or UnauthorizedAccessException or NotSupportedException or OperationCanceledException
        || e.GetType().Name.EndsWith("FormatException", StringComparison.Ordinal)
        || e.GetType().Namespace?.StartsWith("Joules", StringComparison.Ordinal) == true;

    public static RootCommand BuildRoot()
    {
        var root = new RootCommand(
            "Joules: how much energy LLM inference takes. Calibrate a GPU with real transformer kernels, " +
            "then replay production request traces against the measurements to project energy, latency, cost and carbon.");
        root.Options.Add(Verbose);
        // The default version action reads the entry assembly, which is the test host under tests.
        foreach (var option in root.Options.OfType<VersionOption>()) option.Action = new PrintVersion();
        root.Subcommands.Add(SimulateCommands.Create());
        root.Subcommands.Add(TraceCommands.Create());
        root.Subcommands.Add(ParquetCommands.Create());
        root.Subcommands.Add(ProfileCommands.Create());
        root.Subcommands.Add(CalibrateCommands.Create());
        root.Subcommands.Add(GpuCommands.Create());
        root.Subcommands.Add(EngineCommands.Create());
        return root;
    }

    private sealed class PrintVersion : System.CommandLine.Invocation.SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parseResult)
        {
            parseResult.InvocationConfiguration.Output.WriteLine(VersionString);
            return 0;
        }
    }

    public static string VersionString =>
        typeof(Program).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";
}
