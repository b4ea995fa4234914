using System.CommandLine;

namespace Joules.Cli.Commands;

/// <summary>The `joules profile` command group.</summary>
public static class ProfileCommands
{
    public static Command Create()
    {
        var cmd = new Command("profile", "Describe calibration profiles and their cost model");
        // Filled in by the issue that owns this command group.
        cmd.SetAction(int (_) => throw new NotSupportedException("'joules profile' is not available yet in this build"));
        return cmd;
    }
}
