using System.CommandLine;
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
        cmd.Subcommands.Add(ServeCheckCommand.Create());
        return cmd;
    }

    /// <summary>The --decode-kernel option of the commands that run the engine (engine bench, calibrate), defaulting to the engine's own default.</summary>
    internal static Option<string> DecodeKernelOption()
    {
        var option = new Option<string>("--decode-kernel")
        {
            Description = "Decode-attention kernel: tensor-core (the work list, each kv head's query heads in one tensor-core tile: K/V read once per kv head), " +
                          "work-list (the same chunks on CUDA cores, which measured the work-list-engine profiles kept beside each shipped H200 profile), single-pass (split by the longest context) or two-pass",
            DefaultValueFactory = _ => DecodeKernels.Names[new EngineOptions().DecodeKernel],
        };
        option.AcceptOnlyFromAmong([.. DecodeKernels.Names.Values]);
        return option;
    }

    /// <summary>The --prefill-attention option of the commands that run the engine (engine bench, calibrate), defaulting to the engine's own default.</summary>
    internal static Option<string> PrefillAttentionOption()
    {
        var option = new Option<string>("--prefill-attention")
        {
            Description = "Prefill attention: auto (cuDNN where it loads, else joules), cudnn (cuDNN's fused flash attention, found in " +
                          "the Python packages PyTorch installs or through JOULES_CUDNN_LIBRARY; chunks over a cached context read the paged " +
                          "cache through cuDNN's paged cache load; an error where it does not load) or joules (Joules' flash-style kernel). " +
                          "The output names which ran (a calibrated profile records it); decode attention is --decode-kernel's either way",
            DefaultValueFactory = _ => PrefillAttentions.Names[new EngineOptions().PrefillAttention],
        };
        option.AcceptOnlyFromAmong([.. PrefillAttentions.Names.Values]);
        return option;
    }

    /// <summary>The --gpus option of the commands that can run a whole tensor-parallel instance.</summary>
    internal static Option<int?> GpusOption() => new("--gpus") { Description = TensorParallelPlacement.GpusHelp };

    private static Command SelfTest()
    {
        var seed = new Option<int>("--seed") { Description = "Seed of the random inputs (default: a fresh one each run)" };
        var noTp = new Option<bool>("--no-tensor-parallel") { Description = "Leave out the NCCL checks (all-reduce, and the tiny model split over 1, 2, 4 and 8 GPUs)" };
        var cmd = new Command("selftest",
            "Check every engine kernel and a small whole model on the GPU against float64 CPU references, then the model split over " +
            "1, 2, 4 and 8 GPUs through NCCL against the unsplit model (degrees with too few GPUs are skipped)");
        cmd.Options.Add(seed);
        cmd.Options.Add(noTp);
        cmd.SetAction(parseResult =>
        {
            var o = parseResult.InvocationConfiguration.Output;
            if (!Cu.IsAvailable(out var why)) { parseResult.InvocationConfiguration.Error.WriteLine($"no GPU: {why}"); return 2; }
            o.WriteLine($"{"check",-64} {"rel.error",10} {"tol",8} {"unwritten",10} {"result",7}");
            void Print(SelfTestResult r) =>
                o.WriteLine(r.Skipped
                    ? $"{r.Name,-64} {"",10} {"",8} {"",10} {"skip",7}  {r.SkippedBecause}"
                    : $"{r.Name,-64} {r.RelError,10:E2} {r.Tolerance,8:G3} {r.Unwritten,10} {(r.Passed ? "ok" : "FAIL"),7}{(r.Error != null ? "  " + r.Error : "")}");
            var s = parseResult.GetValue(seed);
            var results = EngineSelfTest.RunAll(s, Print);
            if (!parseResult.GetValue(noTp)) results.AddRange(EngineSelfTest.RunTensorParallel(seed: s, progress: Print));
            int failed = results.Count(r => !r.Passed), skipped = results.Count(r => r.Skipped);
            o.WriteLine(failed == 0 ? $"all {results.Count - skipped} checks passed{(skipped > 0 ? $", {skipped} skipped" : "")}" : $"{failed} of {results.Count - skipped} checks FAILED");
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
        var tp = new Option<int>("--tp") { Description = "Tensor-parallel degree (without --gpus: run one GPU's shard of it)", DefaultValueFactory = _ => 1 };
        var gpus = GpusOption();
        var iterations = new Option<int>("--iterations") { Description = "Timed iterations (median reported)", DefaultValueFactory = _ => 20 };
        var noGraph = new Option<bool>("--no-graph") { Description = "Launch kernels one by one instead of replaying a CUDA graph" };
        var roofline = new Option<bool>("--roofline") { Description = "Also measure the GEMM rate and copy bandwidth and compare with the roofline" };
        var energy = new Option<bool>("--energy") { Description = "Also measure energy per iteration through NVML (read-only; summed over every GPU, each GPU's share shown), with the calibrator's --quick protocol" };
        var suite = new Option<string?>("--suite") { Description = "Run a named set of shapes instead ('issue5': the prefill and decode shapes of issue 5; 'spread': decode batches of equal and of spread contexts with the same sum; 'attention': attention kernels alone, per layer, on the shapes PyTorch's SDPA is compared on; 'small-batch': decode batches of 1 to 16)" };
        var decodeKernel = DecodeKernelOption();
        var prefillAttention = PrefillAttentionOption();
        var gemvMaxTokens = new Option<int>("--gemv-max-tokens")
        {
            Description = $"Iterations of at most this many tokens project through the streaming GEMV kernels with RMSNorm and SwiGLU fused in " +
                          $"(0: always cuBLASLt; at most {EngineKernels.GemvMaxRows})",
            DefaultValueFactory = _ => new EngineOptions().GemvMaxTokens,
        };
        gemvMaxTokens.Validators.Add(r =>
        {
            var v = r.GetValueOrDefault<int>();
            if (v < 0 || v > EngineKernels.GemvMaxRows) r.AddError($"--gemv-max-tokens must be between 0 and {EngineKernels.GemvMaxRows}, got {v}");
        });
        var decodeMaxGroup = new Option<int>("--decode-max-group")
        {
            Description = "Work-list decode attention: most query heads one work item serves (1, 2, 4 or 8); larger GQA groups are split into items of this many " +
                          "(8: a 70B shard's group of 8 query heads as one item, the kernel before the split)",
            DefaultValueFactory = _ => new EngineOptions().DecodeMaxGroup,
        };
        decodeMaxGroup.AcceptOnlyFromAmong("1", "2", "4", "8");
        var twoPass = new Option<bool>("--two-pass-decode") { Description = "Same as --decode-kernel two-pass" };
        var simplePrefill = new Option<bool>("--simple-prefill") { Description = "Use the single-buffer prefill-attention kernel instead of the pipelined one" };
        var breakdown = new Option<bool>("--breakdown")
        {
            Description = "Also time each shape's dense projections alone and its attention alone (each replayed from its own CUDA graph); the rest is small kernels and gaps (one GPU's shard only)",
        };
        var json = new Option<string?>("--json") { Description = "Also write the results as JSON to this file" };
        var cmd = new Command("bench", "Time engine iterations: time per iteration, tokens/s, achieved TFLOP/s and GB/s (of one GPU's shard, or of a whole tp instance with --gpus)");
        foreach (var opt in new Option[] { model, phase, decodes, decodeContext, batch, context, newTokens, tp, gpus, iterations, noGraph, roofline, energy, suite, decodeKernel, prefillAttention, decodeMaxGroup, twoPass, simplePrefill, gemvMaxTokens, breakdown, json })
            cmd.Options.Add(opt);
        cmd.SetAction(parseResult =>
        {
            var o = parseResult.InvocationConfiguration.Output;
            var card = Catalog.Model(parseResult.GetValue(model)!);
            var placement = TensorParallelPlacement.Parse(parseResult.GetValue(tp), parseResult.GetValue(gpus));
            placement.Validate(card);
            var suiteName = parseResult.GetValue(suite);
            var shapes = EngineBenchReport.Shapes(suiteName, parseResult.GetValue(phase)!, parseResult.GetValue(batch), parseResult.GetValue(context),
                parseResult.GetValue(newTokens), parseResult.GetValue(decodes), parseResult.GetValue(decodeContext));
            if (!Cu.IsAvailable(out var why)) { parseResult.InvocationConfiguration.Error.WriteLine($"no GPU: {why}"); return 2; }
            using var engine = EngineFactory.Open(card, placement, new EngineOptions
            {
                UseGraphs = !parseResult.GetValue(noGraph),
                DecodeKernel = parseResult.GetValue(twoPass) ? DecodeKernel.TwoPass
                    : DecodeKernels.Parse(parseResult.GetValue(decodeKernel)!),
                PipelinedPrefill = !parseResult.GetValue(simplePrefill),
                PrefillAttention = PrefillAttentions.Parse(parseResult.GetValue(prefillAttention)!),
                GemvMaxTokens = parseResult.GetValue(gemvMaxTokens),
                DecodeMaxGroup = parseResult.GetValue(decodeMaxGroup),
            });
            var nccl = (engine as TensorParallelEngine)?.NcclVersion;
            bool attentionOnly = suiteName == EngineBenchReport.AttentionSuiteName, parts = parseResult.GetValue(breakdown) && !attentionOnly;
            if ((attentionOnly || parts) && engine is not TransformerEngine)
            {
                parseResult.InvocationConfiguration.Error.WriteLine("--suite attention and --breakdown time one GPU's kernels: leave out --gpus");
                return 1;
            }
            o.WriteLine(EngineBenchReport.Describe(card, engine, nccl));
            Roofline? roof = parseResult.GetValue(roofline) || suiteName != null ? EngineBench.MeasureRoofline(engine) : null;
            if (roof != null) o.WriteLine($"roofline: bf16 GEMM {roof.GemmFlopsPerSecond / 1e12:F0} TFLOP/s, copy {roof.CopyBytesPerSecond / 1e12:F2} TB/s (read+write)");
            using var meter = parseResult.GetValue(energy) ? new EngineEnergyBench(engine) : null;
            if (meter != null)
            {
                var idle = meter.MeasureIdle();
                o.WriteLine($"idle power {idle.MeanPowerWatts:F1} W over {engine.Gpus} GPU(s) ({string.Join(", ", meter.Uuids)})");
            }
            o.WriteLine(EngineBenchReport.Header(meter != null, parts));
            var rows = new List<EngineBenchRow>();
            foreach (var (label, comp) in shapes)
            {
                if (!engine.Fits(comp, out var reason)) { o.WriteLine($"{label,-24} skipped: {reason}"); continue; }
                int n = parseResult.GetValue(iterations);
                var split = parts ? EngineBench.MeasureBreakdown((TransformerEngine)engine, label, comp, iterations: n) : null;
                var r = split?.Whole ?? (attentionOnly
                    ? EngineBench.MeasureAttention((TransformerEngine)engine, label, comp, iterations: n)
                    : EngineBench.Measure(engine, label, comp, iterations: n));
                var row = new EngineBenchRow(r, attentionOnly ? null : roof?.Seconds(engine.Shard, comp), attentionOnly ? null : meter?.Measure(comp), split);
                rows.Add(row);
                o.WriteLine(EngineBenchReport.Format(row));
            }
            if (parseResult.GetValue(json) is { } path) EngineBenchReport.WriteJson(path, card, engine, roof, nccl, rows);
            return 0;
        });
        return cmd;
    }
}
