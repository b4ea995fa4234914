using System.CommandLine;

namespace Joules.Cli.Commands;

/// <summary>The `joules simulate` command group.</summary>
public static class SimulateCommands
{
    public static Command Create()
    {
        var cmd = new Command("simulate", "Replay a request trace through a simulated serving cluster and account its energy and latency");
        // Filled in by the issue that owns this command group.
        cmd.SetAction(int (_) => throw new NotSupportedException("'joules simulate' is not available yet in this build"));
        return cmd;
    }
}
