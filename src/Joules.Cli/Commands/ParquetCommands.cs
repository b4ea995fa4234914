using System.CommandLine;

namespace Joules.Cli.Commands;

/// <summary>The `joules parquet` command group.</summary>
public static class ParquetCommands
{
    public static Command Create()
    {
        var cmd = new Command("parquet", "Inspect Parquet files: schema, first rows, column statistics");
        // Filled in by the issue that owns this command group.
        cmd.SetAction(int (_) => throw new NotSupportedException("'joules parquet' is not available yet in this build"));
        return cmd;
    }
}
