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
    public void Bad_plans_fail_with_a_clear_message(string[] args, string message)
    {
        var r = Run(args);
        Assert.Equal(1, r.Code);
        Assert.Contains(message, r.Err);
        Assert.DoesNotContain("bug in joules", r.Err);
    }
}
