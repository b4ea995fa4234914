using System.CommandLine;

namespace Joules.Cli.Commands;

/// <summary>The `joules gpu` command group.</summary>
public static class GpuCommands
{
    public static Command Create()
    {
        var cmd = new Command("gpu", "Query the GPUs on this machine (read-only)");
        // Filled in by the issue that owns this command group.
        cmd.SetAction(int (_) => throw new NotSupportedException("'joules gpu' is not available yet in this build"));
        return cmd;
    }
}
