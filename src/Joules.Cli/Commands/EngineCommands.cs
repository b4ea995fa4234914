using System.CommandLine;
using System.Text.Json;
using Joules.Calibration;
using Joules.Calibration.Engine;
using Joules.Cuda;
using Joules.Profiles;

namespace Joules.Cli.Commands;

/// <summary>The `joules engine` command group.</summary>
public static class EngineCommands
{
    public static Command Create()
    {
        var cmd = new Command("engine", "Run and time the calibration transformer engine on the GPU");
        cmd.Subcommands.Add(Bench());
        cmd.Subcommands.Add(SelfTest());
        return cmd;
    }

    private static Command SelfTest()
    {
        var seed = new Option<int>("--seed") { Description = "Seed of the random inputs (default: a fresh one each run)" };
        var cmd = new Command("selftest", "Check every engine kernel and a small whole model on the GPU against float64 CPU references");
        cmd.Options.Add(seed);
        cmd.SetAction(parseResult =>
        {
            var o = parseResult.InvocationConfiguration.Output;
            if (!Cu.IsAvailable(out var why)) { parseResult.InvocationConfiguration.Error.WriteLine($"no GPU: {why}"); return 2; }
            o.WriteLine($"{"check",-52} {"rel.error",10} {"tol",8} {"unwritten",10} {"result",7}");
            var results = EngineSelfTest.RunAll(parseResult.GetValue(seed), r =>
                o.WriteLine($"{r.Name,-52} {r.RelError,10:E2} {r.Tolerance,8:G3} {r.Unwritten,10} {(r.Passed ? "ok" : "FAIL"),7}{(r.Error != null ? "  " + r.Error : "")}"));
            int failed = results.Count(r => !r.Passed);
            o.WriteLine(failed == 0 ? $"all {results.Count} checks passed" : $"{failed} of {results.Count} checks FAILED");
            return failed == 0 ? 0 : 1;
        });
        return cmd;
    }

    private static Command Bench()
    {
        var model = new Option<string>("--model") { Description = "Model card name or JSON path", DefaultValueFactory = _ => "llama-3.1-8b" };
        var phase = new Option<string>("--phase") { Description = "prefill, decode or mixed (prefill chunks plus riding decodes)", DefaultValueFactory = _ => "decode" };
        var decodes = new Option<int>("--decodes") { Description = "Mixed: decode sequences riding along with the prefill chunks", DefaultValueFactory = _ => 32 };
        var decodeContext = new Option<int>("--decode-context") { Description = "Mixed: context of each riding decode", DefaultValueFactory = _ => 1024 };
        var batch = new Option<int>("--batch") { Description = "Sequences in the iteration", DefaultValueFactory = _ => 64 };
        var context = new Option<int>("--context") { Description = "Tokens already in each sequence's KV cache", DefaultValueFactory = _ => 1024 };
        var newTokens = new Option<int>("--new-tokens") { Description = "Prefill: new tokens per sequence", DefaultValueFactory = _ => 512 };
        var tp = new Option<int>("--tp") { Description = "Tensor-parallel degree whose per-GPU shard to run", DefaultValueFactory = _ => 1 };
        var iterations = new Option<int>("--iterations") { Description = "Timed iterations (median reported)", DefaultValueFactory = _ => 20 };
        var noGraph = new Option<bool>("--no-graph") { Description = "Launch kernels one by one instead of replaying a CUDA graph" };
        var roofline = new Option<bool>("--roofline") { Description = "Also measure the GEMM rate and copy bandwidth and compare with the roofline" };
        var suite = new Option<string?>("--suite") { Description = "Run a named set of shapes instead ('issue5': the prefill and decode shapes of issue 5)" };
        var twoPass = new Option<bool>("--two-pass-decode") { Description = "Use the two-pass decode-attention kernel instead of the single-pass one" };
        var simplePrefill = new Option<bool>("--simple-prefill") { Description = "Use the single-buffer prefill-attention kernel instead of the pipelined one" };
        var json = new Option<string?>("--json") { Description = "Also write the results as JSON to this file" };
        var cmd = new Command("bench", "Time engine iterations: time per iteration, tokens/s, achieved TFLOP/s and GB/s");
        foreach (var opt in new Option[] { model, phase, decodes, decodeContext, batch, context, newTokens, tp, iterations, noGraph, roofline, suite, twoPass, simplePrefill, json }) cmd.Options.Add(opt);
        cmd.SetAction(parseResult =>
        {
            var o = parseResult.InvocationConfiguration.Output;
            if (!Cu.IsAvailable(out var why)) { parseResult.InvocationConfiguration.Error.WriteLine($"no GPU: {why}"); return 2; }
            var card = Catalog.Model(parseResult.GetValue(model)!);
            var shapes = new List<(string Label, IterationComposition Composition)>();
            var suiteName = parseResult.GetValue(suite);
            if (suiteName != null)
            {
                if (suiteName != "issue5") throw new ArgumentException($"unknown suite '{suiteName}' (known: issue5)");
                shapes.AddRange(EngineBench.Issue5Suite);
            }
            else
            {
                var ph = parseResult.GetValue(phase);
                int b = parseResult.GetValue(batch), c = parseResult.GetValue(context), n = parseResult.GetValue(newTokens);
                shapes.Add(ph switch
                {
                    "decode" => ($"decode b={b} ctx={c}", IterationComposition.Decode(b, c)),
                    "prefill" => ($"prefill {b}x{n} ctx={c}", IterationComposition.Prefill(b, n, c)),
                    "mixed" => ($"mixed {b}x{n} ctx={c} + {parseResult.GetValue(decodes)} decodes",
                        new CalibrationPoint(Joules.Calibration.Phase.Mixed, b, n, c, parseResult.GetValue(decodes), parseResult.GetValue(decodeContext)).ToComposition()),
                    _ => throw new ArgumentException($"--phase must be prefill, decode or mixed, not '{ph}'"),
                });
            }
            int t = parseResult.GetValue(tp);
            using var engine = new TransformerEngine(card, t, new EngineOptions
            {
                UseGraphs = !parseResult.GetValue(noGraph),
                DecodeKernel = parseResult.GetValue(twoPass) ? DecodeKernel.TwoPass : DecodeKernel.SinglePass,
                PipelinedPrefill = !parseResult.GetValue(simplePrefill),
            });
            o.WriteLine($"{card.Name} tp={t} (one shard: {engine.Shard.WeightBytesPerGpu / 1e9:F1} GB of weights) on {engine.DeviceName}");
            Roofline? roof = parseResult.GetValue(roofline) || suiteName != null ? EngineBench.MeasureRoofline(engine) : null;
            if (roof != null) o.WriteLine($"roofline: bf16 GEMM {roof.GemmFlopsPerSecond / 1e12:F0} TFLOP/s, copy {roof.CopyBytesPerSecond / 1e12:F2} TB/s (read+write)");
            o.WriteLine($"{"shape",-24} {"ms/iter",9} {"tokens/s",10} {"TFLOP/s",8} {"GB/s",7} {"roofline ms",11} {"of roofline",11} graph");
            var rows = new List<Dictionary<string, object?>>();
            foreach (var (label, comp) in shapes)
            {
                if (!engine.Fits(comp, out var reason)) { o.WriteLine($"{label,-24} skipped: {reason}"); continue; }
                var r = EngineBench.Measure(engine, label, comp, iterations: parseResult.GetValue(iterations));
                double? rs = roof?.Seconds(engine.Shard, comp);
                o.WriteLine($"{label,-24} {r.MedianSeconds * 1e3,9:F3} {r.TokensPerSecond,10:F0} {r.TflopsPerSecond,8:F1} {r.GigabytesPerSecond,7:F0} " +
                            $"{(rs is { } x ? (x * 1e3).ToString("F3") : "-"),11} {(rs is { } y ? (y / r.MedianSeconds).ToString("P0") : "-"),11} {(r.Graph ? "yes" : "no")}");
                rows.Add(new Dictionary<string, object?>
                {
                    ["label"] = label, ["sequences"] = comp.Sequences.Count, ["new_tokens"] = r.NewTokens,
                    ["context"] = comp.Sequences[0].ContextBefore, ["median_s"] = r.MedianSeconds, ["min_s"] = r.MinSeconds,
                    ["tokens_per_s"] = r.TokensPerSecond, ["tflops"] = r.TflopsPerSecond, ["gbps"] = r.GigabytesPerSecond,
                    ["flops"] = r.Flops, ["bytes"] = r.Bytes, ["roofline_s"] = rs, ["graph"] = r.Graph,
                });
            }
            var path = parseResult.GetValue(json);
            if (path != null)
            {
                // Utf8JsonWriter rather than reflection-based serialisation: the published binary is trimmed.
                using var stream = File.Create(path);
                using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
                w.WriteStartObject();
                w.WriteString("model", card.Name); w.WriteNumber("tp", t); w.WriteString("gpu", engine.DeviceName);
                if (roof != null) { w.WriteNumber("gemm_flops_per_s", roof.GemmFlopsPerSecond); w.WriteNumber("copy_bytes_per_s", roof.CopyBytesPerSecond); }
                w.WriteStartArray("results");
                foreach (var row in rows)
                {
                    w.WriteStartObject();
                    foreach (var (k, v) in row)
                        switch (v)
                        {
                            case string sv: w.WriteString(k, sv); break;
                            case bool bv: w.WriteBoolean(k, bv); break;
                            case int iv: w.WriteNumber(k, iv); break;
                            case long lv: w.WriteNumber(k, lv); break;
                            case double dv: w.WriteNumber(k, dv); break;
                            case null: w.WriteNull(k); break;
                        }
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }
            return 0;
        });
        return cmd;
    }
}
