using Joules.Cli;
using Xunit;

namespace Joules.Cli.Tests;

public class CliTests
{
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        var code = Program.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    [Fact]
    public void HelpListsEveryCommandGroup()
    {
        var (code, output, _) = Run("--help");
        Assert.Equal(0, code);
        foreach (var group in new[] { "simulate", "trace", "parquet", "profile", "calibrate", "gpu", "engine" })
            Assert.Contains(group, output);
    }

    [Fact]
    public void VersionPrintsTheAssemblyVersion()
    {
        var (code, output, _) = Run("--version");
        Assert.Equal(0, code);
        Assert.StartsWith("0.", output.Trim());
    }

    [Fact]
    public void UnknownCommandFailsWithNonZeroExit()
    {
        var (code, _, err) = Run("no-such-command");
        Assert.NotEqual(0, code);
        Assert.Contains("no-such-command", err);
    }
}
