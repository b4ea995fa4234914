using Joules.Parquet;
using Joules.Runs;
using Joules.Simulation;
using Joules.Simulation.Settings;
using Xunit;

namespace Joules.Runs.Tests;

/// <summary>A simulate job's outputs: staged and swapped in whole, untouched on failure or cancellation, with provenance everywhere.</summary>
public class SimulateJobTests
{
    private static string Root => Joules.Tests.RepoPaths.Calibration;

    private static string TempDir()
    {
        var d = Path.Combine(Path.GetTempPath(), "joules-job-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(d);
        return d;
    }

    private static SimulateJobRequest Request(string? outDir, int requests = 200, params ScenarioSpec[] specs) => new()
    {
        Specs = specs.Length > 0 ? specs : [new ScenarioSpec().With(SimulateSettings.Instances, 2)],
        Trace = TraceInput.Synthetic(requests, 4, 7),
        OutDir = outDir,
        CommandLine = "joules simulate --test",
        ToolVersion = "9.9.9+0123456789ab",
        ProfileRoot = Root,
    };

    private static Dictionary<string, byte[]> Snapshot(string dir) =>
        Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).ToDictionary(f => Path.GetRelativePath(dir, f), File.ReadAllBytes);

    [Fact]
    public void AReusedOutFolderHoldsOnlyTheNewRunsFiles()
    {
        var dir = TempDir();
        var two = Request(dir, 100,
            new ScenarioSpec().With(SimulateSettings.Name, "a").With(SimulateSettings.Instances, 2),
            new ScenarioSpec().With(SimulateSettings.Name, "b").With(SimulateSettings.Instances, 3));
        SimulateJob.Run(two);
        Assert.True(Directory.Exists(Path.Combine(dir, "a")));
        SimulateJob.Run(Request(dir));
        var files = Snapshot(dir).Keys.Where(k => !k.StartsWith('.')).Order().ToArray();
        Assert.Equal(["power.parquet", "report.html", "requests.parquet", "summary.json"], files);
        Assert.False(Directory.Exists(Path.Combine(dir, "a")), "stale scenario folder of the earlier run");
    }

    [Fact]
    public void ScenariosWhoseNamesMapToOneFolderEachKeepTheirOwnFiles()
    {
        // `a?` and `a*` are both `a_`, `A_` is the same folder where case does not count, and a scenario named like the
        // run's own summary would have been written over by it.
        Assert.Equal(["a_", "a_-2", "A_-3", "summary.json-2", "hidden", "scenario"], SimulateJob.ScenarioFolders(["a?", "a*", "A_", "summary.json", ".hidden", ".."]));
        var dir = TempDir();
        var result = SimulateJob.Run(Request(dir, 100,
            new ScenarioSpec().With(SimulateSettings.Name, "a?").With(SimulateSettings.Instances, 1),
            new ScenarioSpec().With(SimulateSettings.Name, "a*").With(SimulateSettings.Instances, 3),
            new ScenarioSpec().With(SimulateSettings.Name, "summary.json").With(SimulateSettings.Instances, 2)));
        Assert.Equal(["summary.json", "report.html", "a_/requests.parquet", "a_/power.parquet", "a_-2/requests.parquet", "a_-2/power.parquet",
            "summary.json-2/requests.parquet", "summary.json-2/power.parquet"], result.Written);
        // Each folder holds its own scenario's run: one instance's requests against three instances'.
        foreach (var (folder, instances) in new[] { ("a_", 1), ("a_-2", 3), ("summary.json-2", 2) })
        {
            using var r = ParquetFileReader.Open(Path.Combine(dir, folder, "requests.parquet"));
            Assert.Equal(100, r.RowCount);
            Assert.Equal(instances, result.Summaries[Array.IndexOf(new[] { "a_", "a_-2", "summary.json-2" }, folder)].Instances);
        }
        Assert.True(File.Exists(Path.Combine(dir, "summary.json")));
    }

    [Fact]
    public void AFailingScenarioLeavesTheEarlierResultsByteIdentical()
    {
        var dir = TempDir();
        SimulateJob.Run(Request(dir));
        var before = Snapshot(dir);
        var bad = new ScenarioSpec().With(SimulateSettings.Profile, "/no/such/profile.parquet");
        Assert.ThrowsAny<IOException>(() => SimulateJob.Run(Request(dir, 100, new ScenarioSpec(), bad)));
        Assert.Equal(before.Keys.Order(), Snapshot(dir).Keys.Order());
        foreach (var (k, v) in before) Assert.Equal(v, File.ReadAllBytes(Path.Combine(dir, k)));
    }

    [Fact]
    public void CancellingMidRunWritesNothingAndSaysSo()
    {
        var dir = TempDir();
        SimulateJob.Run(Request(dir));
        var before = Snapshot(dir);
        using var cts = new CancellationTokenSource();
        var progress = new Joules.Progress.ProgressReporter(TextWriter.Null, Joules.Progress.ProgressStyle.Off);
        // Cancel from another thread while the simulation runs (a long synthetic trace).
        var request = Request(dir, 400_000);
        var t = Task.Run(() => SimulateJob.Run(request, progress, null, cts.Token));
        Thread.Sleep(300);
        cts.Cancel();
        var e = Assert.ThrowsAny<OperationCanceledException>(() => t.GetAwaiter().GetResult());
        Assert.Contains("nothing was written", e.Message);
        Assert.Equal(before.Keys.Order(), Snapshot(dir).Keys.Order());
        foreach (var (k, v) in before) Assert.Equal(v, File.ReadAllBytes(Path.Combine(dir, k)));
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.GetDirectoryName(dir)!, Path.GetFileName(dir) + ".joules-*"));
    }

    [Fact]
    public void EveryOutputCarriesTheProvenance()
    {
        var dir = TempDir();
        var result = SimulateJob.Run(Request(dir));
        Assert.Equal("0123456789ab", result.Provenance.Commit);
        foreach (var table in new[] { "requests.parquet", "power.parquet" })
        {
            using var r = ParquetFileReader.Open(Path.Combine(dir, table));
            Assert.Equal("9.9.9+0123456789ab", r.Metadata["joules.version"]);
            Assert.Equal("0123456789ab", r.Metadata["joules.commit"]);
            Assert.Equal("joules simulate --test", r.Metadata["joules.command"]);
            Assert.Equal("200", r.Metadata["joules.trace.requests"]);
            Assert.Equal("42", r.Metadata["joules.seed"]);
            Assert.Contains("seed 7", r.Metadata["joules.trace"]);
            Assert.Equal("profile", r.Metadata["joules.cost_model.kind"]);
            Assert.Matches("^[0-9a-f]{64}$", r.Metadata["joules.profile.sha256"]!);
            Assert.Contains("h200 / llama-3.1-8b", r.Metadata["joules.deployment"]);
        }
        var json = File.ReadAllText(Path.Combine(dir, "summary.json"));
        Assert.Contains("\"provenance\"", json);
        Assert.Contains("\"created_utc\"", json);
    }

    [Fact]
    public void AnOutFolderHoldingTheTraceIsRefusedBeforeAnythingIsTouched()
    {
        var dir = TempDir();
        var trace = Path.Combine(dir, "t.csv");
        File.WriteAllText(trace, "request_id,arrival_time,input_tokens,output_tokens\n1,2024-01-01T00:00:00Z,100,10\n");
        var req = Request(dir) with { Trace = TraceInput.File(trace) };
        Assert.ThrowsAny<IOException>(() => SimulateJob.Run(req));
        Assert.True(File.Exists(trace));
    }
}
