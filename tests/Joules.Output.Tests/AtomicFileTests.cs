using System.Diagnostics;
using Xunit;

namespace Joules.Output.Tests;

public class AtomicFileTests
{
    [Fact]
    public void CommitReplacesTheFileAndLeavesNothingElse()
    {
        using var s = new Scratch();
        File.WriteAllText(s["out.txt"], "old");
        using (var f = AtomicFile.Create(s["out.txt"]))
        {
            Assert.True(f.Existed);
            Assert.StartsWith(s["out.txt"] + AtomicFile.PartialMarker, f.TempPath);
            f.Stream.Write("new contents"u8);
            Assert.Equal("old", File.ReadAllText(s["out.txt"])); // untouched until the commit
            f.Commit();
        }
        Assert.Equal("new contents", File.ReadAllText(s["out.txt"]));
        Assert.Equal(["out.txt"], s.Entries());
    }

    [Fact]
    public void DisposeWithoutCommitKeepsThePreviousFileByteForByte()
    {
        using var s = new Scratch();
        var old = new byte[10_000];
        new Random(3).NextBytes(old);
        File.WriteAllBytes(s["out.bin"], old);
        using (var f = AtomicFile.Create(s["out.bin"]))
        {
            f.Stream.Write(new byte[50_000]);
            Assert.True(File.Exists(f.TempPath));
        }
        Assert.Equal(old, File.ReadAllBytes(s["out.bin"]));
        Assert.Equal(["out.bin"], s.Entries());
    }

    [Fact]
    public void AnExceptionInsideWriteLeavesNoFileWhenThereWasNone()
    {
        using var s = new Scratch();
        Assert.Throws<InvalidDataException>(() => AtomicFile.Write(s["new.txt"], st =>
        {
            st.Write("half"u8);
            throw new InvalidDataException("bad row");
        }));
        Assert.Empty(s.Entries());
    }

    [Fact]
    public void CancellationFromAnotherThreadDeletesThePartialFileAtOnceAndCommitRefuses()
    {
        using var s = new Scratch();
        File.WriteAllText(s["out.txt"], "old");
        using var cts = new CancellationTokenSource();
        using var f = AtomicFile.Create(s["out.txt"], cts.Token);
        var writer = Task.Run(() =>
        {
            var chunk = new byte[4096];
            while (!cts.IsCancellationRequested) f.Stream.Write(chunk);
        });
        SpinWait.SpinUntil(() => new FileInfo(f.TempPath).Length > 0, 5000);
        cts.Cancel();
        writer.Wait();
        Assert.False(File.Exists(f.TempPath));
        Assert.Throws<OperationCanceledException>(f.Commit);
        f.Dispose();
        Assert.Equal("old", File.ReadAllText(s["out.txt"]));
        Assert.Equal(["out.txt"], s.Entries());
    }

    [Fact]
    public void CreatesMissingFoldersAndRemovesThemAgainWhenNothingWasWritten()
    {
        using var s = new Scratch();
        var path = Path.Combine(s.Dir, "a", "b", "out.txt");
        using (var f = AtomicFile.Create(path)) f.Stream.Write("x"u8);
        Assert.Empty(s.Entries());
        AtomicFile.WriteAllText(path, "done");
        Assert.Equal("done", File.ReadAllText(path));
    }

    [Fact]
    public void AFolderGivenAsTheFileIsRefusedAsAFolder()
    {
        using var s = new Scratch();
        Directory.CreateDirectory(s["results"]);
        var e = Assert.Throws<OutputRefusedException>(() => AtomicFile.Create(s["results"]));
        Assert.Contains("is a folder", e.Message);
        Assert.Contains(s["results"], e.Message);
    }

    [Fact]
    public void ASymbolicLinkIsKeptAndItsTargetReplaced()
    {
        if (OperatingSystem.IsWindows()) return;
        using var s = new Scratch();
        Directory.CreateDirectory(s["real"]);
        File.WriteAllText(Path.Combine(s["real"], "data.txt"), "old");
        File.CreateSymbolicLink(s["link.txt"], Path.Combine(s["real"], "data.txt"));
        AtomicFile.WriteAllText(s["link.txt"], "new");
        Assert.NotNull(new FileInfo(s["link.txt"]).LinkTarget);
        Assert.Equal("new", File.ReadAllText(Path.Combine(s["real"], "data.txt")));
    }

    [Fact]
    public void ReplacedFileKeepsItsPermissions()
    {
        if (OperatingSystem.IsWindows()) return;
        using var s = new Scratch();
        File.WriteAllText(s["x"], "old");
        File.SetUnixFileMode(s["x"], UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);
        AtomicFile.WriteAllText(s["x"], "new");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead, File.GetUnixFileMode(s["x"]));
    }

    [Fact]
    public void LeftoversOfADeadProcessAreSweptAndThoseOfALiveOneKept()
    {
        using var s = new Scratch();
        // A pid that cannot be running: above the kernel's pid_max (4,194,304 at most on Linux).
        var dead = s["out.txt" + AtomicFile.PartialMarker + "99999999-deadbeef"];
        File.WriteAllText(dead, "partial");
        using var live = Process.GetCurrentProcess();
        var mine = s["out.txt" + AtomicFile.PartialMarker + live.Id + "-cafecafe"];
        File.WriteAllText(mine, "someone else in this process");
        AtomicFile.WriteAllText(s["out.txt"], "ok");
        Assert.False(File.Exists(dead));
        Assert.True(File.Exists(mine));
    }

    [Fact]
    public void CommitTwiceIsAnError()
    {
        using var s = new Scratch();
        using var f = AtomicFile.Create(s["x"]);
        f.Commit();
        Assert.Throws<InvalidOperationException>(f.Commit);
        Assert.Contains("was not written", AtomicFile.Create(s["y"]).NotWrittenMessage);
    }
}
