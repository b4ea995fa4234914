using System.CommandLine;
using System.Reflection;
using System.Runtime.InteropServices;
using Joules.Cli.Commands;

namespace Joules.Cli;

/// <summary>Entry point of the `joules` command line: builds the command tree, turns Ctrl-C into a cancellation, and turns failures into one clear line and a non-zero exit code.</summary>
public static class Program
{
    /// <summary>Exit code after an interruption (128 + SIGINT), as shells report a Ctrl-C.</summary>
    public const int InterruptedExitCode = 130;

    /// <summary>Shows stack traces for errors when given anywhere on the command line.</summary>
    public static readonly Option<bool> Verbose = new("--verbose", "-v")
    {
        Description = "Show more detail, including stack traces for errors",
        Recursive = true,
    };

    public static int Main(string[] args)
    {
        using var cancel = new CancellationTokenSource();
        var signals = 0;
        // The first Ctrl-C (or SIGTERM) cancels: commands stop at the next check, delete their partial outputs and say
        // what was not written. A second one gets the default action and ends the process at once.
        void OnSignal(PosixSignalContext context)
        {
            if (Interlocked.Increment(ref signals) > 1) return;
            context.Cancel = true;
            cancel.Cancel();
        }
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        return Run(args, Console.Out, Console.Error, cancel.Token);
    }

    /// <summary>Runs the CLI with the given arguments and writers (used by tests); <paramref name="cancel"/> is what Ctrl-C cancels.</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken cancel = default)
    {
        var root = BuildRoot();
        var parse = root.Parse(args);
        // A command group given without a command (`joules`, `joules trace`) shows its help rather than an error.
        if (parse.CommandResult.Command is { Action: null, Subcommands.Count: > 0 } && parse.Tokens.All(t => t.Type == System.CommandLine.Parsing.TokenType.Command))
            parse = root.Parse([.. args, "--help"]);
        if (parse.Errors.Count > 0 && !IsHelpRequest(args))
        {
            foreach (var error in parse.Errors) stderr.WriteLine($"error: {CliOptions.Friendly(error.Message)}");
            stderr.WriteLine($"(see '{CommandPath(parse)} --help')");
            return 1;
        }
        // The signal handling is ours (Main), so commands run to their own cleanup instead of being abandoned after a timeout.
        var config = new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null };
        try
        {
            return parse.InvokeAsync(config, cancel).GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            var inner = e is AggregateException { InnerExceptions.Count: 1 } agg ? agg.InnerExceptions[0] : e;
            if (inner is OperationCanceledException || cancel.IsCancellationRequested)
            {
                RestoreCursor(stderr);
                stderr.WriteLine($"interrupted: {Interruption(inner)}");
                if (parse.GetValue(Verbose)) stderr.WriteLine(inner.ToString());
                return InterruptedExitCode;
            }
            stderr.WriteLine($"error: {inner.Message}");
            if (parse.GetValue(Verbose)) stderr.WriteLine(inner.ToString());
            else if (!IsUserError(inner)) stderr.WriteLine("(this looks like a bug in joules; run again with --verbose for the stack trace)");
            return 1;
        }
    }

    private static bool IsHelpRequest(string[] args) => args.Any(a => a is "--help" or "-h" or "-?" or "/?" or "/h");

    private static string CommandPath(ParseResult parse)
    {
        var names = new List<string>();
        for (var r = parse.CommandResult; r is not null; r = r.Parent as System.CommandLine.Parsing.CommandResult)
            names.Insert(0, r.Command is RootCommand ? "joules" : r.Command.Name);
        return string.Join(' ', names);
    }

    /// <summary>What an interruption left: the command's own account when it gave one, else that nothing was written.</summary>
    private static string Interruption(Exception e)
    {
        for (var x = e; x is not null; x = x.InnerException)
            if (x is OperationCanceledException oce && oce.Message != new OperationCanceledException().Message) return oce.Message;
        return "stopped before anything was written";
    }

    /// <summary>A progress display elsewhere (Spectre's) may have hidden the terminal cursor; show it again.</summary>
    private static void RestoreCursor(TextWriter stderr)
    {
        if (ReferenceEquals(stderr, Console.Error) && !Console.IsErrorRedirected) stderr.Write("\u001b[?25h");
    }

    /// <summary>Errors that describe bad input or environment rather than a defect in Joules.</summary>
    /// <remarks>A native library that does not load (DllNotFoundException: no NVIDIA driver, no CUDA toolkit) is the machine's
    /// setup, not a bug; commands that need one name it and what works without it.</remarks>
    private static bool IsUserError(Exception e) =>
        e is IOException or InvalidDataException or FormatException or ArgumentException or KeyNotFoundException
            or UnauthorizedAccessException or NotSupportedException or OperationCanceledException or DllNotFoundException
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
        root.Subcommands.Add(PlanCommands.Create());
        root.Subcommands.Add(ServeCommand.Create());
        root.Subcommands.Add(ReplayCommand.Create());
        root.Subcommands.Add(ValidateCommand.Create());
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
