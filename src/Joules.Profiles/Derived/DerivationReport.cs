using System.Globalization;

namespace Joules.Profiles.Derived;

/// <summary>The text `joules profile derive` prints: what was derived from what, the fitted constants, and (on request) each point's split.</summary>
public static class DerivationReport
{
    public static void Write(DerivationResult result, string outputPath, TextWriter o, bool explain)
    {
        var inv = CultureInfo.InvariantCulture;
        var d = result.Provenance;
        var src = d.SourceDatasheet;
        var tgt = d.TargetDatasheet;
        o.WriteLine($"derived      {outputPath}");
        o.WriteLine($"             {d.Note}");
        o.WriteLine($"source       {d.From} (sha256 {d.FromSha256}), measured on {d.SourceGpu}");
        o.WriteLine($"rates        {Fmt(d.SourceRates.GemmFlopsPerSecond / 1e12, "0")} TFLOP/s GEMM, {Fmt(d.SourceRates.CopyBytesPerSecond / 1e12, "0.00")} TB/s copy, from {d.SourceRates.Describe()}");
        o.WriteLine($"ratios       memory {Fmt(tgt.MemoryBandwidthGBs / src.MemoryBandwidthGBs, "0.000")}x ({src.MemoryBandwidthGBs:0} -> {tgt.MemoryBandwidthGBs:0} GB/s), " +
                    $"compute {Fmt(tgt.Bf16DenseTflops / src.Bf16DenseTflops, "0.000")}x ({src.Bf16DenseTflops:0.#} -> {tgt.Bf16DenseTflops:0.#} TFLOP/s bf16), power limit {Fmt(d.DynamicPowerScale, "0.000")}x");
        if (d.Reshards)
            o.WriteLine($"shard        tp {d.SourceTp} -> tp {d.TargetTp}: each stage's floor from the new shard's work, its excess split into a part that grows with the work and " +
                        "per-kernel tails that do not (fitted on the source), power from how each point's time divides between launches, GEMMs and attention");
        var layers = result.Profile.Metadata.Model.Layers;
        o.WriteLine($"fixed        {Fmt(d.FixedOverheadSeconds * 1e3, "0.000")} ms per iteration ({Fmt(d.FixedOverheadSeconds * 1e6 / layers, "0.0")} us per layer), kept as measured");
        o.WriteLine($"stages       measured time / floor on the source: GEMM memory-bound {Fmt(d.StageMultipliers[0], "0.00")}, GEMM compute-bound {Fmt(d.StageMultipliers[1], "0.00")}, " +
                    $"decode attention {Fmt(d.StageMultipliers[2], "0.00")}, prefill attention {Fmt(d.StageMultipliers[3], "0.00")}");
        o.WriteLine($"power        static {Fmt(d.SourceStaticWatts, "0.0")} W -> {Fmt(d.TargetStaticWatts, "0.0")} W, dynamic x{Fmt(d.DynamicPowerScale, "0.000")}, capped at {tgt.TdpWatts:0} W " +
                    $"({result.Points.Count(p => p.PowerCapped)} of {result.Points.Count} points at the cap)");
        o.WriteLine($"points       {result.Points.Count} derived + idle; {d.Dropped.Count} left out");
        foreach (var why in d.Dropped) o.WriteLine($"  left out   {why}");
        if (!explain) return;
        o.WriteLine();
        o.WriteLine($"  {"point",-52} {"source ms",10} {"fixed",7} {"gemm",8} {"dec.attn",8} {"pre.attn",8} {"target ms",10} {"W src",6} {"W tgt",6}");
        foreach (var p in result.Points)
        {
            string Part(StagePart s) => s.SourceSeconds == 0 && s.TargetSeconds == 0 ? "-" : $"{Fmt(s.SourceSeconds * 1e3, "0.00")}{(s.ComputeBound ? "c" : "m")}";
            o.WriteLine($"  {p.Source.ToString(),-52} {Fmt(p.Source.IterationSeconds * 1e3, "0.000"),10} {Fmt(p.FixedSeconds * 1e3, "0.00"),7} {Part(p.Gemm),8} {Part(p.DecodeAttention),8} {Part(p.PrefillAttention),8} " +
                        $"{Fmt(p.Derived.IterationSeconds * 1e3, "0.000"),10} {Fmt(p.SourceWatts, "0"),6} {Fmt(p.DerivedWatts, "0"),6}{(p.PowerCapped ? " cap" : "")}");
        }
        o.WriteLine("  (stage columns: source milliseconds of each part, m = memory-bound floor, c = compute-bound floor)");
        string Fmt(double v, string f) => v.ToString(f, inv);
    }
}
