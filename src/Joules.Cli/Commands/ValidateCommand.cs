using System.CommandLine;
using Joules.Validation;
using S = Joules.Simulation.Settings.SimulateSettings;

namespace Joules.Cli.Commands;

/// <summary>The `joules validate` command: wiring only (the comparison lives in Joules.Validation).</summary>
public static class ValidateCommand
{
    /// <summary>Exit code when a metric misses its limit.</summary>
    public const int LimitMissedExitCode = 2;

    private static readonly SettingOptions Settings = new([S.Profile, S.CostModel, S.Gpu, S.IterationOverheadMs, S.KvBlocks, S.MaxNumSeqs, S.MaxNumBatchedTokens]);

    public static Command Create()
    {
        var run = new Argument<string>("run") { Description = "A run folder written by `joules replay --out`" };
        var arrivals = CliOptions.Choice("--arrivals", "Arrival times simulated: trace (the run's trace, window and rate scaling), sent (the times the replay actually sent) or received (the send times in the order the server queued the requests; needs a run of joules serve, which numbers its queue)", ArrivalSource.Trace);
        var trace = new Option<string?>("--trace") { Description = "The run's trace file, if it moved since the run (its SHA-256 must match)" };
        var iterationLog = new Option<string?>("--iteration-log")
        {
            Description = "The --iteration-log file of the joules serve the run was sent to: each simulated iteration pays the host time of the measured iteration " +
                          "that ran at the same moment, instead of the run's mean (the run's rows are found by its counters; the log may cover other runs too)",
        };
        Option<double?> Limit(string name, string what) => CliOptions.OptionalNumber(name, $"Exit with code {LimitMissedExitCode} when the {what} error exceeds this many percent", "a percentage of at least 0", v => v >= 0);
        var energy = Limit("--max-energy-error", "total-energy");
        var ttft = Limit("--max-ttft-error", "TTFT p50");
        var tpot = Limit("--max-tpot-error", "TPOT p50");
        var e2e = Limit("--max-e2e-error", "E2E p50");
        var bin = CliOptions.Number("--power-bin", "Width of the power-timeline bins compared, seconds", "a positive number of seconds", v => v > 0, 1.0);
        var output = new Option<string?>("--out", "-o") { Description = "Folder for validation.json and validation.html; default: the run folder (a validation there priced by another profile is kept as validation.<its profile hash>.json)" };
        var json = new Option<bool>("--json") { Description = "Print validation.json instead of the table" };
        var cmd = new Command("validate",
            "Re-simulate a measured run (its trace, window and server configuration, the host time per iteration the server measured: its mean, or each iteration's with --iteration-log) on one instance " +
            "with a measured profile, and report energy, power, throughput and TTFT/TPOT/E2E percentiles: measured, simulated, error");
        cmd.Arguments.Add(run);
        foreach (var o in Settings.All.Concat([arrivals, trace, iterationLog, energy, ttft, tpot, e2e, bin, output, json])) cmd.Options.Add(o);
        cmd.SetAction((p, cancel) =>
        {
            var stdout = p.InvocationConfiguration.Output;
            var folder = p.GetValue(run)!;
            var result = RunValidator.Validate(folder, new ValidationOptions
            {
                Overrides = Settings.Spec(p),
                ProfileRoot = SimulateCommands.FindCalibrationRoot(),
                Arrivals = p.GetValue(arrivals),
                TracePath = p.GetValue(trace),
                IterationLog = p.GetValue(iterationLog),
                PowerBinS = p.GetValue(bin),
                Limits = new ValidationLimits { EnergyPct = p.GetValue(energy), TtftP50Pct = p.GetValue(ttft), TpotP50Pct = p.GetValue(tpot), E2eP50Pct = p.GetValue(e2e) },
            }, cancel);
            var (kept, text) = ValidationFiles.Write(p.GetValue(output) ?? folder, result, cancel);
            foreach (var k in kept) p.InvocationConfiguration.Error.WriteLine($"kept the previous validation, priced by another profile, as {k}");
            if (p.GetValue(json)) stdout.WriteLine(text);
            else foreach (var line in ValidationReport.Lines(result)) stdout.WriteLine(line);
            return Task.FromResult(result.Passed ? 0 : LimitMissedExitCode);
        });
        return cmd;
    }
}
