using System.Globalization;
using System.Text.Json;
using Joules.Profiles;

namespace Joules.Calibration.Engine;

/// <summary>Opens the engine that a --tp/--gpus placement asks for.</summary>
public static class EngineFactory
{
    /// <summary>One GPU's shard on device 0 (the old path, unchanged), or the whole instance on GPUs 0..tp-1 through NCCL.</summary>
    public static IEngineInstance Open(ModelCard model, TensorParallelPlacement placement, EngineOptions? options = null)
    {
        placement.Validate(model);
        if (!placement.WholeInstance) return new TransformerEngine(model, placement.Tp, options);
        placement.RequireDevices(Joules.Cuda.Cu.DeviceCount());
        return new TensorParallelEngine(model, placement.Tp, placement.Devices, options);
    }
}

/// <summary>One row of `joules engine bench`: timing, the roofline it is compared with, (with --energy) the energy of all GPUs, and (with --breakdown) the time of its parts.</summary>
public sealed record EngineBenchRow(BenchResult Result, double? RooflineSeconds, EnergyResult? Energy, IterationBreakdown? Breakdown = null);

/// <summary>The shapes, the table and the JSON file of `joules engine bench`.</summary>
public static class EngineBenchReport
{
    /// <summary>Named shape sets (--suite).</summary>
    public static IReadOnlyDictionary<string, IReadOnlyList<(string Label, IterationComposition Composition)>> Suites { get; } =
        new Dictionary<string, IReadOnlyList<(string, IterationComposition)>> { ["issue5"] = EngineBench.Issue5Suite, ["spread"] = EngineBench.SpreadSuite, ["attention"] = EngineBench.AttentionSuite, ["small-batch"] = EngineBench.SmallBatchSuite };

    /// <summary>The suite that times attention kernels alone (<see cref="EngineBench.MeasureAttention"/>) instead of whole iterations.</summary>
    public const string AttentionSuiteName = "attention";

    /// <summary>The shapes to run: a named suite, or one shape from --phase and its sizes.</summary>
    public static IReadOnlyList<(string Label, IterationComposition Composition)> Shapes(string? suite, string phase, int batch, int context, int newTokens, int decodes, int decodeContext)
    {
        if (suite != null)
            return Suites.TryGetValue(suite, out var s) ? s : throw new ArgumentException($"unknown suite '{suite}' (known: {string.Join(", ", Suites.Keys)})");
        if (batch < 1) throw new ArgumentException($"--batch must be at least 1, got {batch}");
        if (context < 0) throw new ArgumentException($"--context must not be negative, got {context}");
        return
        [
            phase switch
            {
                "decode" => ($"decode b={batch} ctx={context}", IterationComposition.Decode(batch, context)),
                "prefill" => ($"prefill {batch}x{newTokens} ctx={context}", IterationComposition.Prefill(batch, newTokens, context)),
                "mixed" => ($"mixed {batch}x{newTokens} ctx={context} + {decodes} decodes",
                    new CalibrationPoint(Phase.Mixed, batch, newTokens, context, decodes, decodeContext).ToComposition()),
                _ => throw new ArgumentException($"--phase must be prefill, decode or mixed, not '{phase}'"),
            },
        ];
    }

    /// <summary>First line of the report: what runs where.</summary>
    public static string Describe(ModelCard model, IEngineInstance engine, string? ncclVersion) => engine.WholeInstance
        ? $"{model.Name} tp={engine.Shard.Tp}: whole instance on {engine.Gpus} x {engine.DeviceName} through NCCL {ncclVersion} " +
          $"({engine.Shard.WeightBytesPerGpu / 1e9:F1} GB of weights per GPU; TFLOP/s and GB/s below are per GPU)"
        : $"{model.Name} tp={engine.Shard.Tp} (one shard: {engine.Shard.WeightBytesPerGpu / 1e9:F1} GB of weights) on {engine.DeviceName}";

    public static string Header(bool energy, bool breakdown = false) =>
        $"{"shape",-24} {"ms/iter",9} {"tokens/s",10} {"TFLOP/s",8} {"GB/s",7} {"roofline ms",11} {"of roofline",11} graph" +
        (breakdown ? $" {"proj ms",8} {"attn ms",8} {"other ms",8}" : "") +
        (energy ? $" {"J/iter",9} {"W",6} {"J/iter per GPU",-24}" : "");

    public static string Format(EngineBenchRow row)
    {
        var r = row.Result;
        var inv = CultureInfo.InvariantCulture;
        var line = string.Create(inv, $"{r.Label,-24} {r.MedianSeconds * 1e3,9:F3} {r.TokensPerSecond,10:F0} {r.TflopsPerSecond,8:F1} {r.GigabytesPerSecond,7:F0} ") +
                   $"{(row.RooflineSeconds is { } x ? (x * 1e3).ToString("F3", inv) : "-"),11} {(row.RooflineSeconds is { } y ? (y / r.MedianSeconds).ToString("P0", inv) : "-"),11} {(r.Graph ? "yes" : "no"),5}";
        if (row.Breakdown is { } b)
            line += string.Create(inv, $" {b.ProjectionSeconds * 1e3,8:F3} {b.AttentionSeconds * 1e3,8:F3} {b.OtherSeconds * 1e3,8:F3}");
        if (row.Energy is { } e)
            line += string.Create(inv, $" {e.JoulesPerIteration,9:F4} {e.MeanPowerWatts,6:F0} ") + string.Join(" + ", e.PerGpu.Select(g => g.JoulesPerIteration.ToString("F4", inv)));
        return line;
    }

    /// <summary>Writes the results as JSON through <see cref="Joules.Output.AtomicFile"/> (nothing under the final name until it is whole); Utf8JsonWriter because the published binary is trimmed.</summary>
    public static void WriteJson(string path, ModelCard model, IEngineInstance engine, Roofline? roofline, string? ncclVersion, IReadOnlyList<EngineBenchRow> rows) =>
        Joules.Output.AtomicFile.Write(path, stream => WriteJson(stream, model, engine, roofline, ncclVersion, rows));

    private static void WriteJson(Stream stream, ModelCard model, IEngineInstance engine, Roofline? roofline, string? ncclVersion, IReadOnlyList<EngineBenchRow> rows)
    {
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("model", model.Name);
            w.WriteNumber("tp", engine.Shard.Tp);
            w.WriteNumber("gpus", engine.Gpus);
            w.WriteBoolean("whole_instance", engine.WholeInstance);
            w.WriteString("gpu", engine.DeviceName);
            w.WriteStartArray("gpu_uuids");
            foreach (var d in engine.Devices) w.WriteStringValue(d.Context.Uuid);
            w.WriteEndArray();
            if (ncclVersion != null) w.WriteString("nccl_version", ncclVersion);
            if (roofline != null) { w.WriteNumber("gemm_flops_per_s", roofline.GemmFlopsPerSecond); w.WriteNumber("copy_bytes_per_s", roofline.CopyBytesPerSecond); }
            w.WriteStartArray("results");
            foreach (var row in rows)
            {
                var r = row.Result;
                var c = r.Composition;
                w.WriteStartObject();
                w.WriteString("label", r.Label);
                w.WriteNumber("sequences", c.Sequences.Count);
                w.WriteNumber("new_tokens", r.NewTokens);
                w.WriteNumber("context", c.Sequences[0].ContextBefore);
                w.WriteNumber("median_s", r.MedianSeconds);
                w.WriteNumber("min_s", r.MinSeconds);
                w.WriteNumber("tokens_per_s", r.TokensPerSecond);
                w.WriteNumber("tflops", r.TflopsPerSecond);
                w.WriteNumber("gbps", r.GigabytesPerSecond);
                w.WriteNumber("flops", r.Flops);
                w.WriteNumber("bytes", r.Bytes);
                if (row.RooflineSeconds is { } rs) w.WriteNumber("roofline_s", rs); else w.WriteNull("roofline_s");
                w.WriteBoolean("graph", r.Graph);
                if (row.Breakdown is { } b)
                {
                    w.WriteNumber("projections_s", b.ProjectionSeconds);
                    w.WriteNumber("attention_s", b.AttentionSeconds);
                    w.WriteNumber("other_s", b.OtherSeconds);
                }
                if (row.Energy is { } e)
                {
                    w.WriteNumber("energy_j", e.JoulesPerIteration);
                    w.WriteNumber("energy_s", e.SecondsPerIteration);
                    w.WriteNumber("mean_power_w", e.MeanPowerWatts);
                    w.WriteNumber("cv_energy", e.CvEnergy);
                    w.WriteStartArray("energy_per_gpu_j");
                    foreach (var g in e.PerGpu) w.WriteNumberValue(g.JoulesPerIteration);
                    w.WriteEndArray();
                }
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
    }
}
