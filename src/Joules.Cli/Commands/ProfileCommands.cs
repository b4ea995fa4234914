using System.CommandLine;
using System.Globalization;
using Joules.Profiles.Measured;

namespace Joules.Cli.Commands;

/// <summary>The `joules profile` command group.</summary>
public static class ProfileCommands
{
    public static Command Create()
    {
        var cmd = new Command("profile", "Describe calibration profiles and their cost model");
        cmd.Subcommands.Add(Show());
        cmd.Subcommands.Add(ProfileDeriveCommand.Create());
        cmd.Subcommands.Add(Check());
        return cmd;
    }

    private static Command Check()
    {
        var reference = new Argument<string>("reference") { Description = "The profile that predicts (e.g. the shipped calibration/h200/llama-3.1-8b/profile.parquet)" };
        var against = new Argument<string>("measured") { Description = "A profile measured elsewhere (another card, driver or run) whose points it predicts" };
        var cmd = new Command("check", "How well one profile predicts points measured elsewhere: per-point time and energy errors, median and worst (markdown)");
        cmd.Arguments.Add(reference);
        cmd.Arguments.Add(against);
        cmd.SetAction(parse =>
        {
            var r = parse.GetValue(reference)!;
            var m = parse.GetValue(against)!;
            foreach (var f in new[] { r, m })
                if (!File.Exists(f)) throw new FileNotFoundException($"profile '{f}' does not exist", f);
            var check = ProfileCheck.Run(ProfileCostModel.FromFile(r), MeasuredProfile.Load(m), r, m);
            parse.InvocationConfiguration.Output.Write(check.ToMarkdown());
            return 0;
        });
        return cmd;
    }

    private static Command Show()
    {
        var file = new Argument<string>("file") { Description = "Profile file written by `joules calibrate` (.json or .parquet)" };
        var json = new Option<bool>("--json") { Description = "Print the description as JSON" };
        var clock = new Option<int?>("--sm-clock") { Description = "For a clock-sweep profile: describe the points measured at this SM clock (MHz)" };
        var heldOut = new Option<bool>("--held-out")
        {
            Description = "Also list every grid point's leave-one-out error: the point's measured time and energy against what the cost model built without it predicts, worst first",
        };
        var cmd = new Command("show", "Describe a calibration profile: GPU, model, grid, measurement spread, idle power, J/token and the cost model's cross-validated error");
        cmd.Arguments.Add(file);
        cmd.Options.Add(json);
        cmd.Options.Add(clock);
        cmd.Options.Add(heldOut);
        cmd.SetAction(parse =>
        {
            var path = parse.GetValue(file)!;
            var summary = ProfileSummary.Create(MeasuredProfile.Load(path), path, parse.GetValue(clock));
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json)) output.WriteLine(summary.ToJson());
            else Print(summary, output);
            if (parse.GetValue(heldOut) && !parse.GetValue(json))
            {
                if (summary.CrossValidation.Points == 0) output.WriteLine("no points to hold out: the profile has no cost model");
                else
                {
                    output.WriteLine();
                    CrossValidationTable.Write(summary.HeldOut, output);
                }
            }
            return 0;
        });
        return cmd;
    }

    /// <summary>The human-readable form of a profile summary.</summary>
    public static void Print(ProfileSummary s, TextWriter o)
    {
        var inv = CultureInfo.InvariantCulture;
        o.WriteLine($"profile      {s.File}");
        o.WriteLine($"gpu          {s.Gpu.Name}{(s.Gpu.CatalogName.Length > 0 ? $" ({s.Gpu.CatalogName})" : "")}  uuid {Or(s.Gpu.Uuid)}  driver {Or(s.Gpu.Driver)}  cuda {Or(s.Gpu.Cuda)}  power limit {s.Gpu.PowerLimitW.ToString("0", inv)} W");
        if (s.Gpu.Cards.Length > 0) o.WriteLine($"cards        measured on more than one card of this model: {s.Gpu.Cards}");
        o.WriteLine($"model        {s.Model.Name}: {s.Model.Layers} layers, hidden {s.Model.Hidden}, {s.Model.Heads} heads / {s.Model.KvHeads} kv, ffn {s.Model.Ffn}, vocab {s.Model.Vocab}, {s.Model.Dtype}, {s.Model.Parameters / 1e9:0.00}B params");
        o.WriteLine($"tp           {s.TensorParallel} (energy below is for the whole instance)");
        if (s.Derived is { } d)
        {
            o.WriteLine($"DERIVED      {d.Note}");
            o.WriteLine($"             source sha256 {d.FromSha256}; rates {d.SourceRates}");
        }
        o.WriteLine($"{(s.Derived is null ? "measured" : "derived ")}     {s.CreatedUtc} with joules {Or(s.ToolVersion)}{(s.Command.Length > 0 ? $": {s.Command}" : "")}");
        foreach (var (k, v) in s.Engine) o.WriteLine($"{(k == s.Engine.Keys.First() ? "engine" : ""),-12} {k.Replace('_', ' ')}: {v}");
        if (s.Derived is not null && s.Engine.Count > 0) o.WriteLine($"{"",-12} (the source's engine, whose measurements this profile estimates for its GPU)");
        o.WriteLine($"grid         {Or(s.Grid)}: {s.Points.Prefill} prefill, {s.Points.Decode} decode, {s.Points.Mixed} mixed, {s.Points.Idle} idle point(s); clocks {string.Join(", ", s.Points.SmClocks)}");
        o.WriteLine($"spread       median cv time {Pct(s.Measurement.MedianCvTime)}, energy {Pct(s.Measurement.MedianCvEnergy)} (worst energy {Pct(s.Measurement.WorstCvEnergy)}) over {s.Measurement.MedianRepeats} trials; {s.Points.Throttled} point(s) power- or thermal-throttled");
        o.WriteLine($"idle power   {s.IdlePowerW.ToString("0.0", inv)} W");
        o.WriteLine();
        o.WriteLine($"  {"iteration",-33} {"time",10} {"tokens/s",10} {"J/token",10}  {"method",-12} {"roofline: time",14} {"J/token",9}");
        foreach (var r in s.JPerToken)
        {
            var roof = r.RooflineIterationS is { } rt && r.RooflineJPerToken is { } rj
                ? $"{(rt * 1e3).ToString("0.00", inv),11} ms {rj.ToString("0.0000", inv),9}" : $"{"n/a",14}";
            o.WriteLine($"  {r.Label,-33} {(r.IterationS * 1e3).ToString("0.00", inv),7} ms {r.TokensPerS.ToString("0", inv),10} {r.JPerToken.ToString("0.0000", inv),10}  {r.Method,-12} {roof}");
        }
        o.WriteLine();
        var cv = s.CrossValidation;
        o.WriteLine($"cost model   {s.CostModel}: leave-one-out over {cv.Points} points");
        o.WriteLine($"  time error   median {Pct(cv.MedianTimeError)}, worst {Pct(cv.WorstTimeError)}  [{cv.WorstTimePoint}]");
        o.WriteLine($"  energy error median {Pct(cv.MedianEnergyError)}, worst {Pct(cv.WorstEnergyError)}  [{cv.WorstEnergyPoint}]");
    }

    private static string Or(string s) => s.Length > 0 ? s : "?";

    private static string Pct(double v) => double.IsNaN(v) ? "n/a" : (v * 100).ToString("0.00", CultureInfo.InvariantCulture) + "%";
}
