using Joules.Planning;
using Joules.Simulation;
using Xunit;

namespace Joules.Planning.Tests;

/// <summary>Plans on the shipped 5-minute trace and H200 profile: search, shards and merge, work lists, the frontier, bad input.</summary>
public sealed class PlanTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("joules-plan-").FullName;
    private static string Trace => Path.Combine(Joules.Tests.RepoPaths.Root, ShippedData.DefaultTrace);
    private static string Calibration => Joules.Tests.RepoPaths.Calibration;

    public void Dispose() => Directory.Delete(_dir, true);

    private static PlanHeader Header(double attainment = 0.9, InstanceSearch? instances = null, Dictionary<string, IReadOnlyList<string>>? settings = null,
        IReadOnlyList<string>? clock = null, double? duration = null) =>
        PlanDefinition.Create(
            settings ?? new Dictionary<string, IReadOnlyList<string>> { ["max_num_seqs"] = ["64", "256"], ["router"] = ["round-robin", "least-outstanding"], ["tpot_slo"] = ["0.0065"] },
            clock ?? ["default", "1400"], [], Trace, duration, 42, new PlanGoal(attainment), instances ?? new InstanceSearch(1, 6), "test", "test");

    private static PlanResults RunAll(PlanHeader header, ShardSpec shard)
    {
        var list = WorkList.Create(header);
        var evaluator = new PlanEvaluator(header, PlanTrace.Load(header), Calibration);
        return new PlanResults(header, list.PlanId, PlanRunner.Run(evaluator, list.Slice(shard)), shard.ToString());
    }

    private static object[] Row(PlanPoint p) =>
    [
        p.Item, string.Join(' ', p.Values), p.Instances, p.Gpus, p.Status, p.OnFrontier, p.Best, p.EnergyJ, p.BusyJ, p.IdleJ, p.JPerOutputToken, p.Cost,
        p.GpuHours, p.SloAttainment, p.TtftP50, p.TtftP99, p.TpotP50, p.TpotP99, p.E2eP99, p.RequestsTotal, p.RequestsCompleted, p.RequestsRejected, p.CostModel, p.Message,
    ];

    [Fact]
    public void Shards_merged_give_exactly_the_one_machine_result()
    {
        var header = Header();
        var whole = RunAll(header, ShardSpec.All);
        whole.Write(Path.Combine(_dir, "whole.parquet"));
        var files = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            var f = Path.Combine(_dir, $"shard{i}.parquet");
            RunAll(header, new ShardSpec(i, 3)).Write(f);
            files.Add(f);
        }
        var merged = PlanResults.Merge(files.Select(PlanResults.Read).ToArray());
        var again = PlanResults.Read(Path.Combine(_dir, "whole.parquet"));
        Assert.Equal("0,1,2/3", merged.Shards);
        Assert.Equal(whole.PlanId, merged.PlanId);
        Assert.Equal(whole.Points.Count, merged.Points.Count);
        Assert.True(whole.Points.Count >= 8);
        for (var i = 0; i < whole.Points.Count; i++)
        {
            Assert.Equal(Row(whole.Points[i]), Row(merged.Points[i]));
            Assert.Equal(Row(whole.Points[i]), Row(again.Points[i]));
        }
        Assert.Contains(whole.Points, p => p.OnFrontier);
        Assert.Single(whole.Points, p => p.Best);
        Assert.Empty(merged.Missing(WorkList.Create(header)));
        Assert.NotEmpty(PlanResults.Merge([PlanResults.Read(files[0])]).Missing(WorkList.Create(header)));
    }

    [Fact]
    public void Bisection_finds_the_smallest_count_an_exhaustive_search_finds()
    {
        // A TPOT target that needs several instances (smaller batches decode faster): the bisection must land where trying every count lands.
        var settings = new Dictionary<string, IReadOnlyList<string>> { ["tpot_slo"] = ["0.006"], ["router"] = ["round-robin"] };
        var bisect = RunAll(Header(0.9, new InstanceSearch(1, 8), settings, ["default"]), ShardSpec.All);
        var every = RunAll(Header(0.9, new InstanceSearch(Explicit: [1, 2, 3, 4, 5, 6, 7, 8]), settings, ["default"]), ShardSpec.All);
        var smallest = every.Points.Where(p => p.Feasible).Min(p => p.Instances);
        Assert.True(smallest > 1, "the test needs a goal one instance misses");
        Assert.Equal(smallest, bisect.Points.Where(p => p.Feasible).Min(p => p.Instances));
        Assert.True(bisect.Points.Count <= 1 + (int)Math.Ceiling(Math.Log2(8)));
        // The same configuration evaluated by both searches gives the same numbers.
        var a = bisect.Points.First(p => p.Instances == smallest);
        var b = every.Points.First(p => p.Instances == smallest);
        Assert.Equal(a.EnergyJ, b.EnergyJ);
    }

    [Fact]
    public void Slower_clocks_start_where_the_faster_clock_ended_and_find_what_a_full_search_finds()
    {
        var settings = new Dictionary<string, IReadOnlyList<string>> { ["tpot_slo"] = ["0.0063"], ["router"] = ["round-robin"] };
        var clocks = new[] { "default", "1700", "1200" };
        var grouped = RunAll(Header(0.9, new InstanceSearch(1, 8), settings, clocks), ShardSpec.All);
        var alone = clocks.Select(c => RunAll(Header(0.9, new InstanceSearch(1, 8), settings, [c]), ShardSpec.All)).ToArray();
        var full = clocks.Length * (1 + 3);
        Assert.True(grouped.Points.Count(p => p.Status != PlanStatus.Pruned) < full, "the group should need fewer simulations than three full searches");
        for (var i = 0; i < clocks.Length; i++)
        {
            var mine = grouped.Points.Where(p => p.Values.Any(v => v.Value == clocks[i])).ToArray();
            var ref0 = alone[i].Points;
            int? Min(IEnumerable<PlanPoint> ps) => ps.Where(p => p.Feasible).Select(p => (int?)p.Instances).Min();
            Assert.Equal(Min(ref0), Min(mine));
            if (mine.Any(p => p.Status == PlanStatus.Pruned)) Assert.DoesNotContain(ref0, p => p.Feasible);
        }
    }

    [Fact]
    public void A_hopeless_configuration_stops_early_and_says_why()
    {
        var settings = new Dictionary<string, IReadOnlyList<string>> { ["ttft_slo"] = ["0.001"] };
        var r = RunAll(Header(0.99, new InstanceSearch(1, 2), settings, ["default"]), ShardSpec.All);
        var p = Assert.Single(r.Points);
        Assert.Equal(PlanStatus.StoppedEarly, p.Status);
        Assert.Contains("missed their SLOs (the goal allows 16)", p.Message); // 1% of 1,612
        Assert.True(double.IsNaN(p.EnergyJ));
        Assert.Null(r.Best);
    }

    [Fact]
    public void The_frontier_holds_exactly_the_undominated_feasible_points()
    {
        var r = RunAll(Header(), ShardSpec.All);
        double[] V(PlanPoint p) => [p.EnergyJ, p.TtftP99, p.TpotP99, p.Gpus];
        var feasible = r.Feasible.ToArray();
        foreach (var p in feasible)
        {
            var dominated = feasible.Any(q => Pareto.Dominates(V(q), V(p)));
            Assert.Equal(!dominated, p.OnFrontier);
        }
        Assert.All(r.Points.Where(p => !p.Feasible), p => Assert.False(p.OnFrontier));
        Assert.Equal(feasible.Min(p => p.EnergyJ), r.Best!.EnergyJ);
    }

    [Fact]
    public void A_work_list_round_trips_and_a_changed_one_is_refused()
    {
        var list = WorkList.Create(Header());
        var path = Path.Combine(_dir, "worklist.parquet");
        list.Write(path);
        var back = WorkList.Read(path);
        Assert.Equal(list.PlanId, back.PlanId);
        Assert.Equal(list.Items.Select(i => i.Describe()), back.Items.Select(i => i.Describe()));
        Assert.Equal(8, list.Items.Count);
        // Settings that differ only in a fixed clock (default, 1400) are one group: groups 0 and 3 of four go to shard 0 of 3.
        Assert.Equal([0, 1, 6, 7], list.Slice(new ShardSpec(0, 3)).Select(i => i.Id));

        var t = PlanTable.Read(path);
        t.Column<string>("router")[2] = "random";
        var bad = Path.Combine(_dir, "bad.parquet");
        t.Write(bad);
        var e = Assert.Throws<InvalidDataException>(() => WorkList.Read(bad));
        Assert.Contains("row 3, column router: 'random', expected 'least-outstanding'", e.Message);
        Assert.Throws<InvalidDataException>(() => WorkList.Read(Trace));
    }

    [Fact]
    public void Merge_refuses_other_plans_and_shards_given_twice()
    {
        var a = RunAll(Header(), new ShardSpec(0, 4));
        var other = RunAll(Header(0.8), new ShardSpec(1, 4));
        Assert.Contains("two different plans", Assert.Throws<ArgumentException>(() => PlanResults.Merge([a, other])).Message);
        Assert.Contains("in two results files", Assert.Throws<ArgumentException>(() => PlanResults.Merge([a, a])).Message);
    }

    [Fact]
    public void A_changed_trace_is_refused()
    {
        var copy = Path.Combine(_dir, "t.parquet");
        File.Copy(Trace, copy);
        var header = Header() with { Trace = copy };
        File.AppendAllText(copy, "x");
        Assert.Contains("has changed since the work list was made", Assert.Throws<InvalidDataException>(() => PlanTrace.Load(header)).Message);
    }

    [Fact]
    public void A_synthetic_trace_like_the_shipped_one_is_the_same_on_every_load()
    {
        var header = Header(duration: 120);
        var (a, b) = (PlanTrace.Load(header), PlanTrace.Load(header));
        Assert.Equal(a, b);
        Assert.InRange(a.Length, 300, 1000); // the 5-minute trace holds 1,612 requests
    }

    [Theory]
    [InlineData("clock", "turbo", "--clock: 'turbo' is not a clock choice")]
    [InlineData("router", "fastest", "--router: 'fastest' is not one of")]
    [InlineData("max_num_seqs", "0", "must be at least 1")]
    public void Bad_values_are_refused_before_anything_runs(string key, string value, string message)
    {
        var settings = new Dictionary<string, IReadOnlyList<string>>();
        IReadOnlyList<string> clock = ["default"];
        if (key == "clock") clock = ["default", value];
        else settings[key] = new[] { "64", value };
        if (key == "router") settings[key] = ["round-robin", value];
        var e = Assert.Throws<ArgumentException>(() => PlanDefinition.Create(settings, clock, [], Trace, null, 1, new PlanGoal(), new InstanceSearch(), "t", "t"));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void Other_bad_plans_are_refused_with_what_to_do()
    {
        var empty = new Dictionary<string, IReadOnlyList<string>>();
        Assert.Contains("--vary: 'x' is not KEY=V1,V2", Assert.Throws<ArgumentException>(() => PlanDefinition.Create(empty, [], ["x"], Trace, null, 1, new PlanGoal(), new InstanceSearch(), "t", "t")).Message);
        Assert.Contains("unknown setting 'turbo'", Assert.Throws<ArgumentException>(() => PlanDefinition.Create(empty, [], ["turbo=1,2"], Trace, null, 1, new PlanGoal(), new InstanceSearch(), "t", "t")).Message);
        Assert.Contains("needs a price", Assert.Throws<ArgumentException>(() => PlanDefinition.Create(empty, [], [], Trace, null, 1, new PlanGoal(Objective: PlanObjective.Cost), new InstanceSearch(), "t", "t")).Message);
        Assert.Contains("--shard: '3/2'", Assert.Throws<ArgumentException>(() => ShardSpec.Parse("3/2")).Message);
        Assert.Contains("--max-instances (2) must be at least --min-instances (4)", Assert.Throws<ArgumentException>(() => new InstanceSearch(4, 2).Validate()).Message);
        var vary = PlanDefinition.Create(empty, [], ["prefix-caching=on,off"], Trace, null, 1, new PlanGoal(), new InstanceSearch(), "t", "t");
        Assert.Equal(new[] { "prefix_caching" }, vary.DimensionOrder);
    }

    private static PlanHeader Plan(Dictionary<string, IReadOnlyList<string>> settings, IReadOnlyList<string>? clock = null, IReadOnlyList<string>? vary = null, InstanceSearch? instances = null) =>
        PlanDefinition.Create(settings, clock ?? [], vary ?? [], Trace, null, 1, new PlanGoal(), instances ?? new InstanceSearch(), "t", "t");

    [Theory]
    [InlineData("gpu", "h200", "foo", "--gpu: unknown GPU 'foo': expected one of", "h100-sxm")]
    [InlineData("model", "llama-3.1-8b", "llama-9", "--model: unknown model 'llama-9': expected one of", "llama-3.1-70b")]
    [InlineData("node", "none", "rack-1", "--node: unknown node 'rack-1': expected one of", "hgx-h200-8")]
    [InlineData("cost_model", "auto", "guess", "--cost-model: unknown cost model 'guess': expected one of", "roofline")]
    [InlineData("profile", "calibration/h200/llama-3.1-8b/profile.parquet", "missing/profile.parquet", "--profile: 'missing/profile.parquet' is not a profile file", "joules calibrate")]
    public void An_unknown_name_is_refused_before_anything_runs(string key, string good, string bad, string message, string valid)
    {
        if (key == "profile") good = Path.Combine(Joules.Tests.RepoPaths.Root, good);
        // Shared by every configuration (one value) or searched (a list): either way the plan is refused, naming the value and what is valid.
        foreach (var values in new[] { new[] { bad }, new[] { good, bad } })
        {
            var e = Assert.Throws<ArgumentException>(() => Plan(new() { [key] = values }));
            Assert.Contains(message, e.Message);
            Assert.Contains(valid, e.Message);
        }
        Assert.Contains(message, Assert.Throws<ArgumentException>(() => Plan([], vary: [$"{key}={good},{bad}"])).Message);
        Assert.Single(Plan(new() { [key] = [good] }).Base);
    }

    [Fact]
    public void Known_names_and_files_are_accepted()
    {
        var header = Plan(new() { ["gpu"] = ["h200", "H100-SXM"], ["node"] = ["none", "hgx-h200-8"], ["cost_model"] = ["auto", "Roofline"] });
        Assert.Equal(new[] { "gpu", "node", "cost_model" }, header.DimensionOrder);
        Assert.Equal(8, WorkList.Create(header).Items.Count);
    }

    [Theory]
    [InlineData("max_num_seqs", "64,256,64", "--max-num-seqs: '64' is given twice; give each value once")]
    [InlineData("max_num_seqs", "64,064", "--max-num-seqs: '064' is given twice ('64' is the same value)")]
    [InlineData("gpu", "h200,H200", "--gpu: 'H200' is given twice ('h200' is the same value)")]
    [InlineData("router", "round-robin,Round-Robin", "--router: 'Round-Robin' is given twice ('round-robin' is the same value)")]
    [InlineData("prefix_caching", "on,true", "--prefix-caching: 'true' is given twice ('on' is the same value)")]
    [InlineData("tpot_slo", "0.1,0.10", "--tpot-slo: '0.10' is given twice ('0.1' is the same value)")]
    public void A_value_given_twice_is_refused_rather_than_evaluated_twice(string key, string list, string message)
    {
        var e = Assert.Throws<ArgumentException>(() => Plan(new() { [key] = PlanDefinition.SplitList(list) }));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void Clock_choices_and_instance_counts_given_twice_are_refused()
    {
        Assert.Contains("--clock: 'Default' is given twice", Assert.Throws<ArgumentException>(() => Plan([], clock: ["default", "1400", "Default"])).Message);
        Assert.Contains("--instances: 2 is given twice; give each count once",
            Assert.Throws<ArgumentException>(() => Plan([], instances: new InstanceSearch(Explicit: [2, 4, 2]))).Message);
        // Distinct counts make one configuration each.
        var header = Plan([], instances: new InstanceSearch(Explicit: [2, 4]));
        Assert.Equal(new[] { 2, 4 }, header.ExplicitInstances);
    }

    [Fact]
    public void The_autoscalers_floor_is_searched_with_vary_apart_from_the_bisections_bounds()
    {
        // Plan's --min-instances is the bisection's lower bound; simulate's --min-instances (the autoscaler's floor, 0 for
        // scale-to-zero) is a setting like any other, reached through --vary.
        var header = Plan(new() { ["autoscaler"] = ["reactive"] }, vary: ["min-instances=0,1"], instances: new InstanceSearch(2, 4));
        Assert.Equal(new[] { "min_instances" }, header.DimensionOrder);
        Assert.Equal((2, 4), (header.MinInstances, header.MaxInstances));
        var e = new PlanEvaluator(header, [], Calibration);
        var items = WorkList.Create(header).Items;
        Assert.Equal(0, e.SpecFor(items[0]).GetOr(Joules.Simulation.Settings.SimulateSettings.MinInstances, 1));
        Assert.Equal(1, e.SpecFor(items[1]).GetOr(Joules.Simulation.Settings.SimulateSettings.MinInstances, 0));
    }

    [Fact]
    public void A_gpu_without_a_measured_profile_is_priced_by_its_derived_one()
    {
        var header = Header(settings: new Dictionary<string, IReadOnlyList<string>> { ["gpu"] = ["h200", "h100-sxm", "a100-sxm"] }, clock: ["default"]);
        var e = new PlanEvaluator(header, [], Calibration);
        var items = WorkList.Create(header).Items;
        Assert.EndsWith(Path.Combine("h200", "llama-3.1-8b", "profile.parquet"), e.FindProfile(e.SpecFor(items[0])));
        Assert.EndsWith("profile.derived.parquet", e.FindProfile(e.SpecFor(items[1])));
        Assert.Null(e.FindProfile(e.SpecFor(items[2])));
    }
}
