using System.CommandLine;

namespace Joules.Cli.Commands;

/// <summary>The `joules engine` command group.</summary>
public static class EngineCommands
{
    public static Command Create()
    {
        var cmd = new Command("engine", "Run and time the calibration transformer engine on the GPU");
        // Filled in by the issue that owns this command group.
        cmd.SetAction(int (_) => throw new NotSupportedException("'joules engine' is not available yet in this build"));
        return cmd;
    }
}
