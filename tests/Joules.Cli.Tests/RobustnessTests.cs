using System.Diagnostics;
using Joules.Cli;
using Joules.Traces.Canonical;
using Xunit;

namespace Joules.Cli.Tests;

/// <summary>
/// Every trace command that writes, driven with generated bad inputs, cancellations from another thread and killed
/// `joules` processes: a non-zero exit, a message naming the input, the previous output byte-identical, and nothing
/// partial under the final name.
/// </summary>
public class RobustnessTests : IClassFixture<RobustnessFixture>, IDisposable
{
    private readonly RobustnessFixture _fx;
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "joules-robustness-case", Guid.NewGuid().ToString("N"));

    public RobustnessTests(RobustnessFixture fx)
    {
        _fx = fx;
        Directory.CreateDirectory(_dir);
    }

    public void Dispose()
    {
        try { Directory.Delete(_dir, true); } catch (IOException) { }
    }

    private static (int Code, string Out, string Err) Run(string[] args, CancellationToken cancel = default)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        var code = Program.Run(args, o, e, cancel);
        return (code, o.ToString(), e.ToString());
    }

    /// <summary>A good earlier output at <paramref name="name"/>, and its bytes.</summary>
    private (string Path, byte[] Bytes) Previous(string name = "out.parquet")
    {
        var path = Path.Combine(_dir, name);
        File.Copy(_fx.Good, path);
        return (path, File.ReadAllBytes(path));
    }

    private void AssertUntouched((string Path, byte[] Bytes) previous, params string[] alsoAllowed)
    {
        Assert.Equal(previous.Bytes, File.ReadAllBytes(previous.Path));
        var names = Directory.EnumerateFileSystemEntries(_dir).Select(Path.GetFileName).ToList();
        Assert.DoesNotContain(names, n => n!.Contains(".joules-partial-"));
        Assert.All(names, n => Assert.True(n == Path.GetFileName(previous.Path) || alsoAllowed.Contains(n), $"unexpected file {n}"));
    }

    [Theory]
    [MemberData(nameof(BadInputs.FailingPairs), MemberType = typeof(BadInputs))]
    public void ABadInputFailsNamingItAndLeavesThePreviousOutputAlone(string input, string command)
    {
        var bad = BadInputs.All.Single(c => c.Name == input);
        var inputPath = Path.Combine(_dir, bad.FileName);
        bad.Make(_fx.Good, inputPath);
        var previous = Previous();
        var args = BadInputs.Commands.Single(c => c.Name == command).Args(inputPath, previous.Path, _fx.Good).Concat(bad.Extra ?? []).ToArray();

        var (code, output, err) = Run(args);

        Assert.True(code != 0, $"exit 0 for {input} through {command}: {output}");
        Assert.Contains(bad.FileName, err);
        Assert.Contains(bad.Expect, err);
        Assert.DoesNotContain("System.", err);
        Assert.DoesNotContain("(Parameter '", err);
        Assert.DoesNotContain("bug in joules", err);
        AssertUntouched(previous, bad.FileName);
    }

    [Theory]
    [InlineData("import")]
    [InlineData("slice")]
    [InlineData("sample")]
    [InlineData("synth")]
    public void AFolderGivenAsTheOutputIsRefusedAsAFolder(string command)
    {
        var folder = Path.Combine(_dir, "results.parquet");
        Directory.CreateDirectory(folder);
        var (code, _, err) = Run(BadInputs.Commands.Single(c => c.Name == command).Args(_fx.Good, folder, _fx.Good));
        Assert.NotEqual(0, code);
        Assert.Contains("results.parquet is a folder", err);
        Assert.Empty(Directory.EnumerateFileSystemEntries(folder));
    }

    [Fact]
    public void AnOutputWithAnUnknownExtensionIsRefusedBeforeReading()
    {
        var (code, _, err) = Run(["trace", "import", Path.Combine(_dir, "missing.csv"), "-o", Path.Combine(_dir, "out.txt")]);
        Assert.NotEqual(0, code);
        Assert.Contains("must end in .parquet", err);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_dir));
    }

    [Theory]
    [InlineData("sample", new[] { "--fraction", "0.5" })]
    [InlineData("scale", new[] { "--factor", "2" })]
    [InlineData("tile", new[] { "--copies", "2" })]
    [InlineData("import", new string[0])]
    public void AnOutputThatIsTheInputWorksThroughTheTemporaryFile(string command, string[] options)
    {
        var (path, before) = Previous("x.parquet");
        var n = CanonicalTraceReader.Read(path).Count();
        var (code, _, err) = Run(["trace", command, path, "-o", path, .. options]);
        Assert.True(code == 0, err);
        var after = CanonicalTraceReader.Read(path).ToArray();
        var expected = command switch { "tile" => 2 * n, "sample" => -1, _ => n };
        if (expected > 0) Assert.Equal(expected, after.Length);
        else Assert.InRange(after.Length, 1, n - 1);
        Assert.Single(Directory.EnumerateFileSystemEntries(_dir));
        if (command != "import") Assert.NotEqual(before, File.ReadAllBytes(path));
    }

    [Fact]
    public void ASourceRenamedToTheOtherExtensionIsReadByItsContent()
    {
        var disguised = Path.Combine(_dir, "really-parquet.csv");
        File.Copy(_fx.Good, disguised);
        var (code, output, err) = Run(["trace", "import", disguised, "-o", Path.Combine(_dir, "a.parquet")]);
        Assert.True(code == 0, err);
        Assert.Contains("wrote 1,612 requests", output);
        var csvAsParquet = Path.Combine(_dir, "really-csv.parquet");
        File.WriteAllText(csvAsParquet, "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.68,374,44\n");
        (code, output, err) = Run(["trace", "import", csvAsParquet, "-o", Path.Combine(_dir, "b.parquet")]);
        Assert.True(code == 0, err);
        Assert.Contains("format Azure", output);
    }

    public static IEnumerable<object[]> Cancellations() =>
        from cmd in new[] { "import", "slice", "sample", "scale", "tile", "merge", "synth" }
        from seed in new[] { 1, 2 }
        select new object[] { cmd, seed };

    /// <summary>Arguments that keep a command busy for well over a second on big inputs.</summary>
    private string[] BusyArgs(string command, string output) => command switch
    {
        "import" => ["trace", "import", _fx.BigCsv, "-o", output],
        "slice" => ["trace", "slice", _fx.BigParquet, "--from", "1m", "-o", output],
        "sample" => ["trace", "sample", _fx.BigParquet, "--fraction", "0.9", "-o", output],
        "scale" => ["trace", "scale", _fx.BigParquet, "--factor", "3", "-o", output],
        "tile" => ["trace", "tile", _fx.BigParquet, "--copies", "3", "-o", output],
        "merge" => ["trace", "merge", _fx.BigParquet, _fx.BigParquet, "-o", output],
        _ => ["trace", "synth", "--requests", "20000000", "--rate", "100", "-o", output],
    };

    [Theory]
    [MemberData(nameof(Cancellations))]
    public void CancellingFromAnotherThreadAtARandomMomentKeepsThePreviousOutput(string command, int seed)
    {
        var previous = Previous();
        using var cts = new CancellationTokenSource();
        // Anywhere from before the work starts to well into it (each run takes seconds).
        var delay = new Random(seed * 31 + command.Length).Next(0, 250);
        // A thread of its own: a thread-pool timer can fire seconds late when the pool is starved (the whole suite runs
        // at once on a small CI machine), and the command would then have finished before the cancel.
        var canceller = new Thread(() => { Thread.Sleep(delay); cts.Cancel(); }) { IsBackground = true };
        canceller.Start();
        var (code, _, err) = Run(BusyArgs(command, previous.Path), cts.Token);
        canceller.Join();
        Assert.True(code == 130, $"exit {code} after a cancel at {delay} ms: {err}");
        var lines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var line = Assert.Single(lines, l => l.StartsWith("interrupted:", StringComparison.Ordinal));
        Assert.Contains("out.parquet was not written; the previous file is unchanged", line);
        AssertUntouched(previous);
    }

    private static string JoulesDll => Path.Combine(AppContext.BaseDirectory, "joules.dll");

    private static Process Start(string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        psi.ArgumentList.Add(JoulesDll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        return Process.Start(psi)!;
    }

    /// <summary>Waits until the child is writing (its partial file exists), then a random while longer.</summary>
    private void WaitUntilWriting(Process child, Task<string> stderr, int seed)
    {
        var watch = Stopwatch.StartNew();
        while (!Directory.EnumerateFiles(_dir, "*.joules-partial-*").Any())
        {
            Assert.False(child.HasExited, $"the child ended (exit {(child.HasExited ? child.ExitCode : 0)}) before it was interrupted: {(child.HasExited ? stderr.Result : "")}");
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(60), "the child never started writing");
            Thread.Sleep(10);
        }
        Thread.Sleep(new Random(seed).Next(0, 300));
    }

    public static IEnumerable<object[]> Kills() =>
    [
        ["synth", "KILL", 1], ["synth", "KILL", 2], ["import", "KILL", 3], ["tile", "KILL", 4],
        ["synth", "TERM", 5], ["import", "TERM", 6], ["merge", "INT", 7],
    ];

    [Theory]
    [MemberData(nameof(Kills))]
    public void AKilledJoulesProcessNeverLeavesAPartialFileUnderTheFinalName(string command, string signal, int seed)
    {
        if (OperatingSystem.IsWindows()) return;
        var previous = Previous();
        using var child = Start(BusyArgs(command, previous.Path));
        var stderr = child.StandardError.ReadToEndAsync();
        var stdout = child.StandardOutput.ReadToEndAsync();
        WaitUntilWriting(child, stderr, seed);
        using (var kill = Process.Start("kill", ["-" + signal, child.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])) kill.WaitForExit();
        Assert.True(child.WaitForExit(60_000), "the child did not end after SIG" + signal);
        if (signal == "KILL")
        {
            // Killed outright: no cleanup ran, so its partial file may remain beside the output, never under its name.
            Assert.Equal(previous.Bytes, File.ReadAllBytes(previous.Path));
            var left = Directory.EnumerateFileSystemEntries(_dir).Select(Path.GetFileName).Where(n => n != "out.parquet").ToList();
            Assert.All(left, n => Assert.StartsWith("out.parquet.joules-partial-", n));
            // The next write to the same output sweeps the dead process's leftover.
            var (code, _, err) = Run(["trace", "sample", _fx.Good, "--fraction", "0.5", "-o", previous.Path]);
            Assert.True(code == 0, err);
            Assert.Single(Directory.EnumerateFileSystemEntries(_dir));
        }
        else if (child.ExitCode == 0)
        {
            // The signal landed after the output was renamed into place (a loaded machine delays the kill): then the
            // whole new file must be there, readable, and nothing partial beside it.
            Assert.DoesNotContain("interrupted: ", stderr.Result);
            Assert.DoesNotContain(Directory.EnumerateFileSystemEntries(_dir).Select(Path.GetFileName), n => n!.Contains(".joules-partial-"));
            Assert.NotEqual(previous.Bytes, File.ReadAllBytes(previous.Path));
            var (code, _, err) = Run(["trace", "stats", previous.Path]);
            Assert.True(code == 0, $"the completed output does not read back: {err}");
        }
        else
        {
            Assert.Equal(130, child.ExitCode);
            Assert.Contains("interrupted: ", stderr.Result);
            Assert.Contains("out.parquet was not written; the previous file is unchanged", stderr.Result);
            AssertUntouched(previous);
        }
        _ = stdout.Result;
    }
}
