using System.CommandLine;

namespace Joules.Cli.Commands;

/// <summary>The `joules calibrate` command group.</summary>
public static class CalibrateCommands
{
    public static Command Create()
    {
        var cmd = new Command("calibrate", "Measure time and energy per iteration on this machine's GPU and write a calibration profile");
        // Filled in by the issue that owns this command group.
        cmd.SetAction(int (_) => throw new NotSupportedException("'joules calibrate' is not available yet in this build"));
        return cmd;
    }
}
