using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Joules.Simulation;
using Joules.Simulation.Settings;

namespace Joules.Cli.Commands;

/// <summary>`joules simulate bench`: replays a synthetic in-process trace and reports how fast the simulator runs.</summary>
internal static class SimulateBench
{
    public static Command Create()
    {
        var requests = new Option<long>("--requests") { Description = "Synthetic requests to replay", DefaultValueFactory = _ => 20_000 };
        requests.Validators.Add(r => { if (r.GetValueOrDefault<long>() < 1) r.AddError($"--requests: must be at least 1, got {r.GetValueOrDefault<long>()}"); });
        var rate = CliOptions.Number("--rate", "Arrival rate, requests per second (20000 at 5.6/s is about an hour)", "a positive rate in requests/s", v => v > 0, 5.6);
        var instances = CliOptions.Whole("--instances", "Instances in the fleet", "a whole number of instances, at least 1", v => v >= 1, 8, "-n");
        var router = new Option<string>("--router", "-r") { Description = "Routing policy", DefaultValueFactory = _ => RouterNames.LeastOutstanding };
        var model = new Option<string>("--model", "-m") { Description = "Model card", DefaultValueFactory = _ => ScenarioSpec.DefaultModel };
        var gpu = new Option<string?>("--gpu") { Description = "GPU datasheet (default: as `joules simulate`, the GPU with a shipped measured profile, priced by it)" };
        var seed = new Option<int>("--seed") { Description = "Seed of the synthetic trace", DefaultValueFactory = _ => 42 };
        var tokenShare = new Option<bool>("--token-share") { Description = "Attribute energy by token share instead of marginal cost (to measure what causal attribution costs)" };
        var stepByStep = new Option<bool>("--step-by-step") { Description = "Price every decode step on its own (no closed-form decode runs), the reference the fast path is checked against" };
        var cmd = new Command("bench", "Measure simulator speed on a synthetic trace generated in-process (no files): wall time, simulated/wall ratio, requests/s, peak memory");
        foreach (var o in new Option[] { requests, rate, instances, router, model, gpu, seed, tokenShare, stepByStep }) cmd.Options.Add(o);
        cmd.SetAction(p =>
        {
            var outw = p.InvocationConfiguration.Output;
            var spec = new ScenarioSpec()
                .With(SimulateSettings.Name, "bench").With(SimulateSettings.Instances, p.GetValue(instances))
                .WithText(SimulateSettings.Router, p.GetValue(router)!, "--router").With(SimulateSettings.Model, p.GetValue(model)!)
                .With(SimulateSettings.Seed, p.GetValue(seed));
            if (p.GetValue(gpu) is { } g) spec.With(SimulateSettings.Gpu, g);
            var sc = spec.Resolve(SimulateCommands.FindCalibrationRoot());
            var n = p.GetValue(requests);
            var r = p.GetValue(rate);
            var trace = SyntheticTrace.Poisson(p.GetValue(seed), n, r);
            var costModel = sc.CreateCostModel();
            var sw = Stopwatch.StartNew();
            var summary = ClusterSimulation.Run(sc.Cluster, costModel, trace, options: new SimulationOptions { CausalAttribution = !p.GetValue(tokenShare), FastDecodeRuns = !p.GetValue(stepByStep) });
            var wall = sw.Elapsed.TotalSeconds;
            var peak = Process.GetCurrentProcess().PeakWorkingSet64;
            var c = CultureInfo.InvariantCulture;
            outw.WriteLine(string.Create(c, $"requests        {summary.RequestsTotal:N0} ({summary.RequestsCompleted:N0} completed) on {summary.Instances} x {summary.Gpu}/{summary.Model}, router {summary.Router}, cost model {costModel.Name}"));
            outw.WriteLine(string.Create(c, $"simulated       {summary.SimulatedSeconds:N0} s ({summary.SimulatedSeconds / 3600:N2} h), {summary.Iterations:N0} iterations, {summary.Events:N0} events"));
            outw.WriteLine(string.Create(c, $"wall            {wall:F2} s (trace generation included)"));
            outw.WriteLine(string.Create(c, $"simulated/wall  {summary.SimulatedSeconds / wall:N0}x"));
            outw.WriteLine(string.Create(c, $"requests/s      {summary.RequestsTotal / wall:N0}"));
            outw.WriteLine(string.Create(c, $"iterations/s    {summary.Iterations / wall:N0}"));
            outw.WriteLine(string.Create(c, $"peak memory     {peak / (1024.0 * 1024):N0} MiB (process working set)"));
            outw.WriteLine(string.Create(c, $"allocated       {GC.GetTotalAllocatedBytes() / (1024.0 * 1024):N0} MiB in all, {GC.CollectionCount(0):N0} gen-0 / {GC.CollectionCount(2):N0} gen-2 collections"));
            outw.WriteLine(string.Create(c, $"energy          {summary.EnergyKwh:N3} kWh, {summary.JPerOutputToken:F3} J/output token, busy {summary.BusyFraction:P1}"));
            return 0;
        });
        return cmd;
    }
}
