using Joules.Output;
using Joules.Planning;
using Xunit;

namespace Joules.Planning.Tests;

/// <summary>A plan's output folder: staged and swapped in whole, never mixing an earlier plan's files with new ones, never writing into a folder of the user's own files.</summary>
public sealed class PlanOutputTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("joules-planout-").FullName;
    private static string Trace => Path.Combine(Joules.Tests.RepoPaths.Root, Joules.Simulation.ShippedData.DefaultTrace);

    public void Dispose() => Directory.Delete(_dir, true);

    private static WorkList List() => WorkList.Create(PlanDefinition.Create(
        new Dictionary<string, IReadOnlyList<string>> { ["max_num_seqs"] = ["64", "256"] }, [], [], Trace, null, 1, new PlanGoal(), new InstanceSearch(1, 2), "t", "t"));

    private static string[] Files(string folder) =>
        Directory.EnumerateFileSystemEntries(folder).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!;

    [Fact]
    public void Nothing_is_in_the_folder_until_the_commit()
    {
        var folder = Path.Combine(_dir, "p1");
        var list = List();
        using (var output = PlanOutput.Create(folder, [Trace]))
        {
            output.Write(list);
            output.Add(PlanOutput.ReportFile, path => File.WriteAllText(path, "<html/>"));
            Assert.False(Directory.Exists(folder));
            Assert.Equal(new[] { PlanOutput.WorkListFile, PlanOutput.ReportFile }, output.Written);
            output.Commit();
        }
        Assert.Equal(new[] { StagedDirectory.MarkerFileName, PlanOutput.ReportFile, PlanOutput.WorkListFile }, Files(folder));
        Assert.Equal(list.PlanId, WorkList.Read(Path.Combine(folder, PlanOutput.WorkListFile)).PlanId);
        Assert.Equal(new[] { "p1" }, Files(_dir)); // no staging folder left beside it
    }

    [Fact]
    public void A_new_work_list_replaces_an_earlier_plans_results_and_report()
    {
        var folder = Path.Combine(_dir, "p1");
        using (var first = PlanOutput.Create(folder, [Trace]))
        {
            first.Write(List());
            first.Add(PlanOutput.ResultsFile, path => File.WriteAllText(path, "earlier results"));
            first.Add(PlanOutput.ReportFile, path => File.WriteAllText(path, "earlier report"));
            first.Commit();
        }
        Directory.CreateDirectory(Path.Combine(folder, "shards", "0"));
        using (var listOnly = PlanOutput.Create(folder, [Trace]))
        {
            listOnly.Write(List());
            listOnly.Commit();
        }
        Assert.Equal(new[] { StagedDirectory.MarkerFileName, PlanOutput.WorkListFile }, Files(folder));
    }

    [Fact]
    public void A_plan_stopped_before_the_commit_leaves_the_earlier_folder_as_it_was()
    {
        var folder = Path.Combine(_dir, "p1");
        using (var first = PlanOutput.Create(folder, [Trace]))
        {
            first.Add(PlanOutput.ResultsFile, path => File.WriteAllText(path, "earlier results"));
            first.Commit();
        }
        using var cancel = new CancellationTokenSource();
        using (var second = PlanOutput.Create(folder, [Trace], cancel.Token))
        {
            second.Write(List());
            cancel.Cancel();
            Assert.Throws<OperationCanceledException>(second.Commit);
        }
        Assert.Equal("earlier results", File.ReadAllText(Path.Combine(folder, PlanOutput.ResultsFile)));
        Assert.Equal(new[] { StagedDirectory.MarkerFileName, PlanOutput.ResultsFile }, Files(folder));
        Assert.Equal(new[] { "p1" }, Files(_dir));
        Assert.Equal($"nothing was written: '{folder}' is as it was before the plan", PlanOutput.NotWrittenMessage(folder));
    }

    [Fact]
    public void A_folder_of_the_users_own_files_is_refused_untouched()
    {
        var folder = Path.Combine(_dir, "mine");
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "notes.txt"), "mine");
        var e = Assert.Throws<OutputRefusedException>(() => PlanOutput.Create(folder, [Trace]));
        Assert.Contains("no .joules-output marker", e.Message);
        Assert.Contains("Nothing was written", e.Message);
        Assert.Equal(new[] { "notes.txt" }, Files(folder));
        Assert.Equal(new[] { "mine" }, Files(_dir));
    }

    [Fact]
    public void A_folder_holding_what_the_plan_reads_is_refused()
    {
        // The fleet layout: shards read p1/worklist.parquet, so a shard writing --out p1 would delete its own work list.
        var folder = Path.Combine(_dir, "p1");
        using (var listOnly = PlanOutput.Create(folder, [Trace]))
        {
            listOnly.Write(List());
            listOnly.Commit();
        }
        var workList = Path.Combine(folder, PlanOutput.WorkListFile);
        var e = Assert.Throws<OutputRefusedException>(() => PlanOutput.Create(folder, [workList, Trace]));
        Assert.Contains($"--out: '{folder}' holds '{workList}', which this plan reads", e.Message);
        Assert.True(File.Exists(workList));
        // A shard's own folder inside the plan's folder is fine.
        using var shard = PlanOutput.Create(Path.Combine(folder, "shards", "3"), [workList, Trace]);
    }
}
