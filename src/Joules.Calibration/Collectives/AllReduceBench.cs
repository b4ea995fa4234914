using Joules.Calibration.Engine;
using Joules.Calibration.Measurement;
using Joules.Cuda;
using Joules.Profiles;
using Joules.Profiles.Measured;

namespace Joules.Calibration.Collectives;

/// <summary>What `joules gpu allreduce-bench` measures: which GPU counts, which message sizes (in tokens of a model's hidden states), with which protocol.</summary>
public sealed record AllReduceBenchPlan
{
    /// <summary>Model whose hidden size and layer count set the message sizes and the calls per iteration.</summary>
    public required ModelCard Model { get; init; }
    /// <summary>GPU counts to measure (GPUs 0..n-1 each).</summary>
    public required IReadOnlyList<int> RankCounts { get; init; }
    /// <summary>Tokens per message (each all-reduce carries tokens x hidden x 2 bytes).</summary>
    public required IReadOnlyList<long> Tokens { get; init; }
    public MeasurementOptions Options { get; init; } = MeasurementOptions.Quick;
    public bool UseGraphs { get; init; } = true;
    public string ToolVersion { get; init; } = "";
    public string Command { get; init; } = "";

    /// <summary>All-reduces one iteration of the model makes (what one measured iteration of the workload runs).</summary>
    public int CallsPerIteration => 2 * Model.Layers + 1;

    /// <summary>The token counts one iteration of each grid point carries, ascending and distinct: the sizes a tp step of the calibration grid all-reduces.</summary>
    public static IReadOnlyList<long> GridTokens(CalibrationGrid grid) =>
        grid.Points.Select(p => p.ToComposition().Shape.TotalTokens).Where(t => t > 0).Distinct().Order().ToArray();

    /// <summary>GPU counts to measure by default: every power of two from 2 up to the GPUs present, and all of them; 1 on a one-GPU machine.</summary>
    public static IReadOnlyList<int> DefaultRankCounts(int available)
    {
        if (available < 1) throw new ArgumentException("no GPU");
        if (available == 1) return [1];
        var list = new List<int>();
        for (var n = 2; n <= available; n *= 2) list.Add(n);
        if (!list.Contains(available)) list.Add(available);
        return list;
    }

    /// <summary>Parses a --ranks list such as "2,4,8"; every count must be at least 1 and at most <paramref name="available"/>.</summary>
    public static IReadOnlyList<int> ParseRankCounts(string text, int available)
    {
        var list = new List<int>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, out var n) || n < 1) throw new ArgumentException($"--ranks: '{part}' is not a GPU count (expected whole numbers of at least 1, e.g. 2,4,8)");
            if (n > available) throw new CalibrationException($"--ranks {n} needs {n} GPUs, but this machine has {available}");
            if (!list.Contains(n)) list.Add(n);
        }
        if (list.Count == 0) throw new ArgumentException("--ranks: no GPU counts given (e.g. 2,4,8)");
        return list;
    }

    /// <summary>Parses a --tokens list such as "1,64,2048"; each must be a positive whole number.</summary>
    public static IReadOnlyList<long> ParseTokens(string text)
    {
        var list = new List<long>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!long.TryParse(part, out var n) || n < 1) throw new ArgumentException($"--tokens: '{part}' is not a token count (expected whole numbers of at least 1, e.g. 1,64,2048)");
            if (!list.Contains(n)) list.Add(n);
        }
        if (list.Count == 0) throw new ArgumentException("--tokens: no token counts given (e.g. 1,64,2048)");
        return list.Order().ToArray();
    }
}

/// <summary>Runs the all-reduce benchmark: for each GPU count, idle power, then every message size through the measurement protocol (NVML energy of all GPUs, read-only).</summary>
public static class AllReduceBench
{
    /// <summary>Opens GPUs 0..ranks-1 with an all-reduce workload sized for <paramref name="plan"/> (the real one; tests pass fakes).</summary>
    public static CalibrationHardware OpenHardware(AllReduceBenchPlan plan, int ranks)
    {
        CalibrationHardware.RequireDriver();
        var available = Cu.DeviceCount();
        if (ranks > available) throw new CalibrationException($"{ranks} GPUs asked for, this machine has {available}");
        var workload = new AllReduceWorkload(Enumerable.Range(0, ranks).ToArray(), plan.Model.Hidden, plan.CallsPerIteration, plan.Tokens.Max(), plan.UseGraphs);
        IReadOnlyList<NvmlTelemetry> telemetry;
        try { telemetry = NvmlTelemetry.ForDevices(workload.Contexts); }
        catch
        {
            workload.Dispose();
            throw;
        }
        return new CalibrationHardware(telemetry.ToArray<IGpuTelemetry>(), workload, owner: new Owner(telemetry))
        {
            Provenance = new Dictionary<string, string> { ["nccl.version"] = workload.NcclVersion },
        };
    }

    private sealed class Owner(IEnumerable<IDisposable> items) : IDisposable
    {
        public void Dispose() { foreach (var i in items) i.Dispose(); }
    }

    /// <summary>Measures the plan; <paramref name="open"/> gives the hardware for a GPU count (disposed after it).</summary>
    public static AllReduceProfile Run(AllReduceBenchPlan plan, Func<int, CalibrationHardware> open, IMeasurementClock clock, TextWriter progress, CancellationToken cancel)
    {
        if (plan.RankCounts.Count == 0 || plan.Tokens.Count == 0) throw new ArgumentException("nothing to measure: no GPU counts or no sizes");
        var rows = new List<AllReduceMeasurement>();
        IReadOnlyList<string> uuids = [];
        string name = "", driver = "", cuda = "", nccl = "";
        var calls = plan.CallsPerIteration;
        foreach (var ranks in plan.RankCounts.Order())
        {
            using var hw = open(ranks);
            var protocol = new MeasurementProtocol(hw.Gpus, clock, plan.Options);
            if (hw.Gpus.Count >= uuids.Count)
            {
                uuids = hw.Gpus.Select(g => g.Uuid).ToArray();
                (name, driver, cuda) = (hw.Gpus[0].Name, hw.Gpus[0].DriverVersion, hw.Gpus[0].CudaVersion);
            }
            nccl = hw.Provenance.GetValueOrDefault("nccl.version", nccl);
            var idle = protocol.MeasureIdle(cancel);
            progress.WriteLine($"{ranks} GPU(s): idle {idle.MeanPowerWatts:0.0} W; {calls} all-reduces per iteration");
            progress.WriteLine($"  {"tokens",7} {"bytes",12} {"time/call",12} {"algbw GB/s",11} {"busbw GB/s",11} {"J/call",10} {"above idle",11}");
            foreach (var tokens in plan.Tokens)
            {
                cancel.ThrowIfCancellationRequested();
                var comp = IterationComposition.Prefill(1, (int)tokens);
                if (!hw.Workload.Fits(comp, out var why)) { progress.WriteLine($"  {tokens,7} skipped: {why}"); continue; }
                hw.Workload.Prepare(comp);
                var perIteration = protocol.WarmUp(hw.Workload, cancel);
                var n = protocol.IterationsPerWindow(perIteration);
                var trials = new List<TrialResult>();
                for (var i = 0; i < plan.Options.Trials; i++) trials.Add(protocol.MeasureWindow(hw.Workload, n, cancel));
                var r = PointResult.Summarise(new CalibrationPoint(Phase.Prefill, 1, (int)tokens, 0), null, trials);
                var bytes = tokens * plan.Model.Hidden * plan.Model.BytesPerElement;
                var seconds = r.SecondsPerIteration / calls;
                var algbw = bytes / seconds / 1e9;
                var per = r.PerGpu.Count > 0 ? r.PerGpu.Select(g => g.JoulesPerIteration / calls).ToArray() : [r.JoulesPerIteration / calls];
                var m = new AllReduceMeasurement(ranks, tokens, bytes, seconds, r.CvTime, algbw, AllReduceProfile.BusBandwidth(algbw, ranks),
                    r.JoulesPerIteration / calls, r.CvEnergy, r.MeanPowerWatts, idle.MeanPowerWatts, r.Repeats, per);
                rows.Add(m);
                progress.WriteLine($"  {tokens,7} {bytes,12} {seconds * 1e6,9:0.0} us {algbw,11:0.0} {m.BusBandwidthGBs,11:0.0} {m.Joules,10:0.00e0} {m.DynamicJoules,11:0.00e0}");
                protocol.Settle(cancel);
            }
        }
        return new AllReduceProfile
        {
            GpuName = name,
            GpuUuids = uuids,
            DriverVersion = driver,
            CudaVersion = cuda,
            NcclVersion = nccl,
            NcclEnvironment = new Dictionary<string, string> { [NcclSettings.MulticastVariable] = NativeEnvironment.Get(NcclSettings.MulticastVariable) ?? "(unset)" },
            Model = plan.Model.Name,
            Hidden = plan.Model.Hidden,
            CallsPerIteration = calls,
            Launch = plan.UseGraphs ? "graph" : "eager",
            ToolVersion = plan.ToolVersion,
            Command = plan.Command,
            CreatedUtc = DateTimeOffset.UtcNow,
            Results = rows,
        };
    }
}
