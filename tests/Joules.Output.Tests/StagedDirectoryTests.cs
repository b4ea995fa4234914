using Xunit;

namespace Joules.Output.Tests;

public class StagedDirectoryTests
{
    private static void Run(string path, params (string Name, string Text)[] files)
    {
        using var d = StagedDirectory.Create(path);
        foreach (var (name, text) in files) File.WriteAllText(d.PathFor(name), text);
        d.Commit();
    }

    [Fact]
    public void ASecondRunReplacesTheWholeFolderSoStaleFilesDisappear()
    {
        using var s = new Scratch();
        Run(s["results"], ("summary.json", "1"), ("report.html", "r1"), ("scenario-a/requests.parquet", "a"));
        Run(s["results"], ("summary.json", "2"));
        Assert.Equal(["results", Path.Combine("results", StagedDirectory.MarkerFileName), Path.Combine("results", "summary.json")], s.Entries());
        Assert.Equal("2", File.ReadAllText(Path.Combine(s["results"], "summary.json")));
    }

    [Fact]
    public void AFolderUnderAFileOrWithNoNameIsRefusedInWords()
    {
        using var s = new Scratch();
        File.WriteAllText(s["afile"], "x");
        // .NET said only "The file '.../afile' already exists."
        var e = Assert.Throws<OutputRefusedException>(() => StagedDirectory.Create(Path.Combine(s["afile"], "sub")));
        Assert.Contains($"{s["afile"]} is a file", e.Message);
        Assert.Contains("Nothing was written", e.Message);
        Assert.Contains("no output path given", Assert.Throws<OutputRefusedException>(() => OutputPaths.Resolve("")).Message);
    }

    [Fact]
    public void AFailedRunKeepsTheOldFolderUntouched()
    {
        using var s = new Scratch();
        Run(s["results"], ("summary.json", "1"));
        var before = s.Entries();
        using (var d = StagedDirectory.Create(s["results"]))
        {
            File.WriteAllText(d.PathFor("summary.json"), "half");
            Assert.True(Directory.Exists(d.StagingPath));
        }
        Assert.Equal(before, s.Entries());
        Assert.Equal("1", File.ReadAllText(Path.Combine(s["results"], "summary.json")));
    }

    [Fact]
    public void CancellationBeforeCommitKeepsTheOldFolder()
    {
        using var s = new Scratch();
        Run(s["results"], ("summary.json", "1"));
        using var cts = new CancellationTokenSource();
        using (var d = StagedDirectory.Create(s["results"], cts.Token))
        {
            File.WriteAllText(d.PathFor("summary.json"), "2");
            cts.Cancel();
            Assert.Throws<OperationCanceledException>(d.Commit);
        }
        Assert.Equal("1", File.ReadAllText(Path.Combine(s["results"], "summary.json")));
        Assert.Equal(3, s.Entries().Length); // results, its marker, summary.json
    }

    [Fact]
    public void AFolderOfTheUsersOwnFilesIsRefusedBeforeAnythingIsTouched()
    {
        using var s = new Scratch();
        Directory.CreateDirectory(s["home"]);
        File.WriteAllText(Path.Combine(s["home"], "thesis.tex"), "precious");
        var e = Assert.Throws<OutputRefusedException>(() => StagedDirectory.Create(s["home"]));
        Assert.Contains("did not write", e.Message);
        Assert.Equal(["home", Path.Combine("home", "thesis.tex")], s.Entries());
    }

    [Fact]
    public void AnEmptyExistingFolderAndAMissingOneAreFine()
    {
        using var s = new Scratch();
        Directory.CreateDirectory(s["empty"]);
        Run(s["empty"], ("a.txt", "a"));
        Run(Path.Combine(s.Dir, "new", "deep"), ("b.txt", "b"));
        Assert.True(File.Exists(Path.Combine(s.Dir, "new", "deep", "b.txt")));
    }

    [Fact]
    public void AFileGivenAsTheFolderIsRefused()
    {
        using var s = new Scratch();
        File.WriteAllText(s["f"], "x");
        Assert.Contains("is a file", Assert.Throws<OutputRefusedException>(() => StagedDirectory.Create(s["f"])).Message);
    }

    [Fact]
    public void AFolderLeftAsideByAKilledCommitIsPutBack()
    {
        using var s = new Scratch();
        Run(s["results"], ("summary.json", "1"));
        // What a commit killed between its two renames leaves: the old folder aside, no destination, a staging folder.
        Directory.Move(s["results"], s["results" + StagedDirectory.OldMarker + "99999999-00000000"]);
        Directory.CreateDirectory(s["results" + StagedDirectory.StagingMarker + "99999999-11111111"]);
        using (StagedDirectory.Create(s["results"])) { }
        Assert.Equal("1", File.ReadAllText(Path.Combine(s["results"], "summary.json")));
        Assert.Equal(3, s.Entries().Length); // results, its marker, summary.json
    }

    [Fact]
    public void PathsMayNotLeaveTheFolder()
    {
        using var s = new Scratch();
        using var d = StagedDirectory.Create(s["out"]);
        Assert.Throws<ArgumentException>(() => d.PathFor("../escape.txt"));
    }
}
