using Joules.Cli;
using Joules.Planning;
using Xunit;

namespace Joules.Cli.Tests;

/// <summary>`joules plan` and `joules plan merge` as the fleet templates call them (deploy/kubernetes, deploy/slurm).</summary>
public sealed class PlanCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("joules-plancli-").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        var code = Program.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    private static readonly string[] s_space = ["--max-num-seqs", "64,256", "--clock", "default,1400", "--tpot-slo", "0.0065", "--attainment", "0.9", "--max-instances", "4", "--no-progress"];
    /// <summary>Another plan of the same shape: half the settings.</summary>
    private static readonly string[] s_smaller = [.. s_space.Select(a => a == "64,256" ? "64" : a)];

    [Fact]
    public void A_work_list_run_in_shards_and_merged_is_the_plan_run_on_one_machine()
    {
        var whole = Path.Combine(_dir, "whole");
        var r = Run(["plan", .. s_space, "--out", whole]);
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("Pareto frontier", r.Out);
        var fleet = Path.Combine(_dir, "fleet");
        r = Run(["plan", .. s_space, "--list-only", "--out", fleet]);
        Assert.True(r.Code == 0, r.Err);
        Assert.False(File.Exists(Path.Combine(fleet, "results.parquet")));
        var list = Path.Combine(fleet, "worklist.parquet");
        for (var i = 0; i < 3; i++)
        {
            r = Run("plan", "--work-list", list, "--shard", $"{i}/3", "--out", Path.Combine(fleet, "shards", i.ToString()), "--no-progress");
            Assert.True(r.Code == 0, r.Err);
        }
        r = Run(["plan", "merge", .. Enumerable.Range(0, 3).Select(i => Path.Combine(fleet, "shards", i.ToString(), "results.parquet")), "--work-list", list, "--out", fleet]);
        Assert.True(r.Code == 0, r.Err);
        Assert.DoesNotContain("have no results yet", r.Out);
        var (a, b) = (PlanResults.Read(Path.Combine(whole, "results.parquet")), PlanResults.Read(Path.Combine(fleet, "results.parquet")));
        Assert.Equal(a.PlanId, b.PlanId);
        Assert.Equal(a.Points.Select(p => p with { WallSeconds = 0 }), b.Points.Select(p => p with { WallSeconds = 0 }), new PointComparer());
        Assert.True(File.Exists(Path.Combine(fleet, "report.html")));

        // Merging only some shards says what is missing.
        r = Run("plan", "merge", Path.Combine(fleet, "shards", "1", "results.parquet"), "--work-list", list, "--out", Path.Combine(_dir, "part"));
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("settings have no results yet", r.Out);
    }

    private sealed class PointComparer : IEqualityComparer<PlanPoint>
    {
        public bool Equals(PlanPoint? x, PlanPoint? y) => x!.Describe() == y!.Describe() && x.Status == y.Status && x.EnergyJ.Equals(y.EnergyJ)
            && x.TtftP99.Equals(y.TtftP99) && x.TpotP99.Equals(y.TpotP99) && x.OnFrontier == y.OnFrontier && x.Best == y.Best && x.Message == y.Message && x.CostModel == y.CostModel;
        public int GetHashCode(PlanPoint p) => p.Describe().GetHashCode();
    }

    [Theory]
    [InlineData(new[] { "plan", "--shard", "2/2", "--out", "x" }, "--shard: '2/2' is not I/N")]
    [InlineData(new[] { "plan", "--clock", "fast", "--out", "x" }, "--clock: 'fast' is not a clock choice")]
    [InlineData(new[] { "plan", "--like", "traces/azure-conv-1h.parquet", "--out", "x" }, "--like needs --duration")]
    [InlineData(new[] { "plan", "--max-num-seqs", "64,abc", "--out", "x" }, "--max-num-seqs: 'abc' is not a positive whole number")]
    [InlineData(new[] { "plan", "--work-list", "missing.parquet", "--out", "x" }, "'missing.parquet' does not exist")]
    [InlineData(new[] { "plan", "--gpu", "h200,foo", "--out", "x" }, "--gpu: unknown GPU 'foo': expected one of a100-sxm, b200, h100-sxm, h200")]
    [InlineData(new[] { "plan", "-n", "2,2", "--out", "x" }, "--instances: 2 is given twice")]
    [InlineData(new[] { "plan", "--max-num-seqs", "64,64", "--out", "x" }, "--max-num-seqs: '64' is given twice")]
    [InlineData(new[] { "plan", "--list-only", "--shard", "0/2", "--out", "x" }, "--list-only evaluates nothing")]
    [InlineData(new[] { "plan", "--min-instances", "0", "--autoscaler", "reactive", "--out", "x" }, "for the autoscaler's floor give --vary min_instances=N")]
    [InlineData(new[] { "plan", "--jobs", "-1", "--out", "x" }, "--jobs: '-1' is not a whole number, at least 0")]
    public void Bad_plans_fail_with_a_clear_message_and_write_nothing(string[] args, string message)
    {
        var outDir = Path.Combine(_dir, "x");
        var r = Run([.. args.Select(a => a == "x" ? outDir : a)]);
        Assert.Equal(1, r.Code);
        Assert.Contains(message, r.Err);
        Assert.DoesNotContain("bug in joules", r.Err);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_dir));
    }

    [Fact]
    public void A_bad_shard_of_a_new_plan_is_refused_before_the_work_list_is_written()
    {
        var outDir = Path.Combine(_dir, "p6");
        var r = Run(["plan", .. s_space, "--out", outDir, "--shard", "3/2"]);
        Assert.Equal(1, r.Code);
        Assert.Contains("--shard: '3/2' is not I/N", r.Err);
        Assert.Empty(r.Out);
        Assert.False(Directory.Exists(outDir));
    }

    [Fact]
    public void The_autoscalers_floor_is_searched_with_vary()
    {
        var outDir = Path.Combine(_dir, "scale");
        var r = Run(["plan", "--autoscaler", "reactive", "--vary", "min_instances=0,1", "--min-instances", "2", "--max-instances", "4", "--list-only", "--out", outDir]);
        Assert.True(r.Code == 0, r.Err);
        var list = WorkList.Read(Path.Combine(outDir, PlanOutput.WorkListFile));
        Assert.Equal(new[] { "min_instances" }, list.Header.DimensionOrder);
        Assert.Equal((2, 4), (list.Header.MinInstances, list.Header.MaxInstances));
        Assert.Equal("reactive", list.Header.Base["autoscaler"]);
    }

    [Fact]
    public void A_work_list_made_over_an_earlier_plan_replaces_its_results_and_report()
    {
        var outDir = Path.Combine(_dir, "p1");
        var r = Run(["plan", .. s_space, "--out", outDir]);
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains($"wrote worklist.parquet, results.parquet, report.html under {outDir}", r.Out);
        Assert.True(File.Exists(Path.Combine(outDir, PlanOutput.ResultsFile)));
        r = Run(["plan", .. s_smaller, "--list-only", "--out", outDir]);
        Assert.True(r.Code == 0, r.Err);
        Assert.Equal(new[] { ".joules-output", PlanOutput.WorkListFile }, Directory.EnumerateFileSystemEntries(outDir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void A_folder_of_the_users_own_files_is_refused_before_any_simulation()
    {
        var mine = Path.Combine(_dir, "mine");
        Directory.CreateDirectory(mine);
        File.WriteAllText(Path.Combine(mine, "notes.txt"), "mine");
        foreach (var extra in new[] { "--list-only", "--no-progress" })
        {
            var r = Run(["plan", .. s_space, extra, "--out", mine]);
            Assert.Equal(1, r.Code);
            Assert.Contains("already holds files that joules did not write", r.Err);
            Assert.DoesNotContain("Pareto frontier", r.Out);
            Assert.Equal(new[] { "notes.txt" }, Directory.EnumerateFileSystemEntries(mine).Select(Path.GetFileName));
        }
    }

    [Fact]
    public void A_shard_may_not_write_over_the_folder_of_its_work_list()
    {
        var p1 = Path.Combine(_dir, "p1");
        Assert.Equal(0, Run(["plan", .. s_space, "--list-only", "--out", p1]).Code);
        var list = Path.Combine(p1, PlanOutput.WorkListFile);
        var r = Run("plan", "--work-list", list, "--shard", "0/2", "--out", p1, "--no-progress");
        Assert.Equal(1, r.Code);
        Assert.Contains($"holds '{list}', which this plan reads", r.Err);
        Assert.True(File.Exists(list));
    }

    [Fact]
    public void An_interrupted_plan_says_nothing_was_written_and_leaves_the_folder_as_it_was()
    {
        var outDir = Path.Combine(_dir, "p1");
        Assert.Equal(0, Run(["plan", .. s_smaller, "--list-only", "--out", outDir]).Code);
        var before = File.ReadAllBytes(Path.Combine(outDir, PlanOutput.WorkListFile));
        using var cancel = new CancellationTokenSource();
        // Ctrl-C once the work list is made and the evaluation is about to start.
        var stdout = new CancelOnWrite("work list:", cancel);
        var stderr = new StringWriter();
        var code = Program.Run(["plan", .. s_space, "--out", outDir], stdout, stderr, cancel.Token);
        Assert.Equal(Program.InterruptedExitCode, code);
        Assert.Contains($"interrupted: nothing was written: '{outDir}' is as it was before the plan", stderr.ToString());
        Assert.Equal(before, File.ReadAllBytes(Path.Combine(outDir, PlanOutput.WorkListFile)));
        Assert.Equal(new[] { ".joules-output", PlanOutput.WorkListFile }, Directory.EnumerateFileSystemEntries(outDir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal(new[] { "p1" }, Directory.EnumerateFileSystemEntries(_dir).Select(Path.GetFileName));
    }

    /// <summary>Standard output that cancels when a line starting with <paramref name="prefix"/> is written, as Ctrl-C at that moment would.</summary>
    private sealed class CancelOnWrite(string prefix, CancellationTokenSource cancel) : StringWriter
    {
        public override void WriteLine(string? value)
        {
            base.WriteLine(value);
            if (value?.StartsWith(prefix, StringComparison.Ordinal) == true) cancel.Cancel();
        }
    }
}
