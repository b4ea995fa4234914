using System.CommandLine;

namespace Joules.Cli.Commands;

/// <summary>The `joules trace` command group.</summary>
public static class TraceCommands
{
    public static Command Create()
    {
        var cmd = new Command("trace", "Import, describe, transform and synthesise request traces");
        // Filled in by the issue that owns this command group.
        cmd.SetAction(int (_) => throw new NotSupportedException("'joules trace' is not available yet in this build"));
        return cmd;
    }
}
