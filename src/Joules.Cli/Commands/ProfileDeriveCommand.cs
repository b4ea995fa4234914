using System.CommandLine;
using Joules.Profiles;
using Joules.Profiles.Derived;
using Joules.Profiles.Measured;

namespace Joules.Cli.Commands;

/// <summary>`joules profile derive`: a profile for a datasheet GPU, or another tensor-parallel shard, estimated from one measured elsewhere.</summary>
public static class ProfileDeriveCommand
{
    public static Command Create()
    {
        var from = new Option<string>("--from") { Description = "Measured profile to derive from (e.g. calibration/h200/llama-3.1-8b/profile.parquet)", Required = true };
        var to = new Option<string>("--to") { Description = $"Target GPU: a catalog name ({string.Join(", ", Catalog.Gpus.Keys.Order())}) or a datasheet JSON file", Required = true };
        var rates = new Option<string>("--rates")
        {
            Description = "Measured GEMM rate and copy bandwidth of the source profile's GPU: a `joules engine bench --roofline --json` file (e.g. calibration/engine/h200-engine.json)",
            Required = true,
        };
        var output = new Option<string?>("--out", "-o") { Description = $"Where to write the derived profile (.parquet or .json); default calibration/derived/<gpu>/<model>[-tpN]/{ProfileDeriver.FileName}" };
        var compare = new Option<string[]>("--compare")
        {
            Description = "Engine-bench JSON files measured on the target GPU (same model and tp): print the derived profile's error on each of their shapes",
            AllowMultipleArgumentsPerToken = true,
        };
        var tp = new Option<int?>("--tp")
        {
            Description = "Tensor-parallel degree of the derived shard (default: the source's). With another degree each stage is scaled by its work on the new shard " +
                          "and power by how the point's time divides between launches, GEMMs and attention; --to may then be the source's own GPU",
        };
        tp.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int?>() is { } v && v < 1) r.AddError($"--tp must be at least 1, got {v}");
        });
        var explain = new Option<bool>("--explain") { Description = "Print how each point was split into fixed, GEMM and attention parts and scaled" };
        var cmd = new Command("derive",
            "Estimate a profile for a GPU you cannot measure from one measured on another: each point's time is split into a fixed overhead and " +
            "memory- or compute-bound stages (GEMMs, decode and prefill attention) using the source GPU's measured rates, each part is scaled by the " +
            "ratio of the target's datasheet figures to the source's, and power is rescaled within the target's limit. With --tp, the shard of another " +
            "tensor-parallel degree (on the same or another GPU): each stage's floor comes from the new shard's work. Every number in the output is " +
            "marked derived (source path and SHA-256, method, datasheets, tool version); measured profiles are never overwritten.");
        foreach (var o in new Option[] { from, to, tp, rates, output, compare, explain }) cmd.Options.Add(o);
        cmd.SetAction(parse =>
        {
            var command = "joules " + string.Join(' ', parse.Tokens.Select(t => t.Value.Contains(' ') ? $"\"{t.Value}\"" : t.Value));
            var result = ProfileDeriver.DeriveFiles(parse.GetValue(from)!, parse.GetValue(to)!, parse.GetValue(rates)!, Program.VersionString, command, DateTimeOffset.UtcNow, parse.GetValue(tp));
            var meta = result.Profile.Metadata;
            var path = parse.GetValue(output) ?? ProfileDeriver.DefaultPath(result.Provenance.TargetDatasheet.Name, meta.Model.Name, meta.TensorParallel);
            if (string.Equals(Path.GetFileName(path), CalibrateCommands.ProfileFileName, StringComparison.OrdinalIgnoreCase))
                throw new ArgumentException($"{path}: '{CalibrateCommands.ProfileFileName}' is the name of measured profiles; write a derived one elsewhere (default name {ProfileDeriver.FileName})");
            if (File.Exists(path) && !MeasuredProfile.Load(path).Metadata.IsDerived)
                throw new ArgumentException($"{path} holds a measured profile; a derived profile never replaces one");
            result.Profile.Save(path);
            var o = parse.InvocationConfiguration.Output;
            DerivationReport.Write(result, path, o, parse.GetValue(explain));
            var files = parse.GetValue(compare) ?? [];
            if (files.Length > 0)
            {
                var model = new ProfileCostModel(result.Profile);
                var references = files.Select(EngineBenchFile.Read).SelectMany(b =>
                    b.ModelName == meta.Model.Name && b.TensorParallel == Math.Max(1, meta.TensorParallel) ? ReferencePoint.From(b)
                    : throw new ArgumentException($"{b.Path} ran {b.ModelName} at tp {b.TensorParallel}; the derived profile is {meta.Model.Name} at tp {Math.Max(1, meta.TensorParallel)}"));
                o.WriteLine();
                var source = ProfileCostModel.FromFile(parse.GetValue(from)!);
                o.Write(DerivedComparison.ToMarkdown(DerivedComparison.Compare(model, references, source)));
            }
            return 0;
        });
        return cmd;
    }
}
