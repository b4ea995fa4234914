using Xunit;

namespace Joules.Output.Tests;

public class OutputPathsTests
{
    [Fact]
    public void RelativeAndAbsoluteSpellingsAreTheSameFile()
    {
        using var s = new Scratch();
        File.WriteAllText(s["t.parquet"], "x");
        var relative = Path.GetRelativePath(Environment.CurrentDirectory, s["t.parquet"]);
        Assert.True(OutputPaths.SameFile(relative, s["t.parquet"]));
        Assert.True(OutputPaths.SameFile(Path.Combine(s.Dir, ".", "sub", "..", "t.parquet"), s["t.parquet"]));
        Assert.False(OutputPaths.SameFile(s["t.parquet"], s["u.parquet"]));
    }

    [Fact]
    public void LinksToTheFileOrToItsFolderAreTheSameFile()
    {
        if (OperatingSystem.IsWindows()) return;
        using var s = new Scratch();
        Directory.CreateDirectory(s["data"]);
        File.WriteAllText(Path.Combine(s["data"], "t.parquet"), "x");
        File.CreateSymbolicLink(s["file-link"], Path.Combine(s["data"], "t.parquet"));
        Directory.CreateSymbolicLink(s["dir-link"], s["data"]);
        Assert.True(OutputPaths.SameFile(s["file-link"], Path.Combine(s["data"], "t.parquet")));
        Assert.True(OutputPaths.SameFile(Path.Combine(s["dir-link"], "t.parquet"), Path.Combine(s["data"], "t.parquet")));
        Assert.Equal(s["file-link"], OutputPaths.FindInput(Path.Combine(s["dir-link"], "t.parquet"), [s["other"], s["file-link"]]));
        var e = Assert.Throws<OutputRefusedException>(() => OutputPaths.RefuseIfInput(s["file-link"], [Path.Combine(s["dir-link"], "t.parquet")]));
        Assert.Contains("also an input", e.Message);
    }

    [Fact]
    public void AnInputInsideAnOutputFolderIsFound()
    {
        using var s = new Scratch();
        Assert.Equal(s["results/requests.parquet"], OutputPaths.FindInputWithin(s["results"], [s["trace.parquet"], s["results/requests.parquet"]]));
        Assert.Null(OutputPaths.FindInputWithin(s["results"], [s["results-old/requests.parquet"]]));
    }
}
