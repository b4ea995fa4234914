using System.Text.Json.Nodes;
using FsCheck;
using FsCheck.Fluent;
using Joules.Profiles.Derived;
using Joules.Profiles.Measured;
using Joules.Profiles.Roofline;
using Xunit;

namespace Joules.Profiles.Tests;

public class ShardWorkTests
{
    [Fact]
    public void StagesAddUpToTheRooflineTotals()
    {
        var models = new[] { "llama-3.1-8b", "llama-3.1-70b", "qwen2.5-7b", "llama-3.2-1b" };
        Prop.ForAll<byte, uint, uint>((m, a, b) =>
        {
            int prefill = (int)(a & 0xffff), ctx = (int)(a >> 16), decodes = (int)(b & 0xffff), tpBits = (int)(b >> 16);
            var card = Catalog.Model(models[m % models.Length]);
            var tp = 1 << (tpBits % 4);
            if (card.Heads % tp != 0 || card.Ffn % tp != 0) return true;
            var roof = new RooflineCostModel(Catalog.Gpu("h200"), card, tp);
            var shape = IterationShape.Decode(decodes % 300, 1 + ctx % 5000);
            if (prefill % 3 != 0) shape = shape.AddPrefill(1 + prefill % 4096, ctx % 2 == 0 ? 0 : ctx % 8192);
            if (shape.IsEmpty) return true;
            var w = roof.Work.Stages(shape);
            return Close(w.Flops, roof.Flops(shape)) && Close(w.Bytes, roof.Bytes(shape));
        }).QuickCheckThrowOnFailure();
        static bool Close(double a, double b) => Math.Abs(a - b) <= 1e-12 * Math.Abs(b);
    }

    [Fact]
    public void CountsLikeTheEngineOnTheEngineCheckShapes()
    {
        // The measured engine rates are only meaningful against FLOPs and bytes counted the way the engine counts them.
        var path = Path.Combine(Joules.Tests.RepoPaths.Calibration, "engine", "h200-engine.json");
        var work = new ShardWork(Catalog.Model("llama-3.1-8b").Shard(1));
        var results = JsonNode.Parse(File.ReadAllText(path))!["results"]!.AsArray();
        var bench = EngineBenchFile.Read(path);
        Assert.Equal(results.Count, bench.Results.Count);
        for (var i = 0; i < results.Count; i++)
        {
            var w = work.Stages(bench.Results[i].Shape);
            // Same FLOPs; bytes differ only in how activations are counted, which matters for prefill (compute-bound) alone.
            Assert.Equal(1, w.Flops / (double)results[i]!["flops"]!, 1e-9);
            Assert.InRange(w.Bytes / (double)results[i]!["bytes"]!, 1, bench.Results[i].Shape.PrefillTokens > 0 ? 1.03 : 1.005);
        }
    }
}

public class ProfileDerivationTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("joules-derive-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Repo(string relative) => Path.Combine(Joules.Tests.RepoPaths.Root, relative);

    private static readonly Lazy<MeasuredProfile> s_h200_8b = new(() => MeasuredProfile.Load(Repo("calibration/h200/llama-3.1-8b/profile.parquet")));
    private static readonly Lazy<MeasuredRates> s_h200Rates = new(() => EngineBenchFile.Read(Repo("calibration/engine/h200-engine.json")).Rates!);

    private static DerivationResult Derive(MeasuredProfile source, GpuSpec target) => ProfileDeriver.Derive(source, new DerivationRequest
    {
        Target = target,
        SourceRates = s_h200Rates.Value,
        SourcePath = "source.parquet",
        SourceSha256 = "00",
    });

    [Theory]
    [InlineData("calibration/h200/llama-3.1-8b/profile.parquet")]
    [InlineData("calibration/h200/llama-3.1-70b-tp8/profile.parquet")]
    public void DerivingForTheSourceGpuGivesTheProfileBack(string path)
    {
        var source = MeasuredProfile.Load(Repo(path));
        var result = Derive(source, Catalog.Gpu("h200"));
        foreach (var p in result.Points)
        {
            Assert.True(Math.Abs(p.Source.IterationSeconds - p.Derived.IterationSeconds) <= 1e-12 * p.Source.IterationSeconds, $"{p.Source}: {p.Source.IterationSeconds} -> {p.Derived.IterationSeconds} gemm {p.Gemm} dec {p.DecodeAttention} pre {p.PrefillAttention}");
            // Power is never above the target's limit: NVML's averages let a capped point read up to 1% above it.
            var watts = Math.Min(p.Source.EnergyJoules / p.Source.IterationSeconds, 700);
            Assert.Equal(watts * p.Source.IterationSeconds, p.Derived.EnergyJoules, 1e-9 * p.Source.EnergyJoules);
        }
        Assert.Equal(source.Points.Count, result.Profile.Points.Count);
        Assert.Equal(source.IdlePowerWatts, result.Profile.IdlePowerWatts, 1e-9);
    }

    [Fact]
    public void EveryPointIsSplitIntoFixedMemoryAndComputePartsThatAddUpToItsTime()
    {
        var result = Derive(s_h200_8b.Value, Catalog.Gpu("h100-sxm"));
        Assert.InRange(result.Provenance.FixedOverheadSeconds, 1e-4, 5e-3);
        foreach (var p in result.Points)
        {
            Assert.Equal(p.Source.IterationSeconds, p.FixedSeconds + p.MemoryBoundSeconds + p.ComputeBoundSeconds, 1e-12);
            foreach (var s in new[] { p.Gemm, p.DecodeAttention, p.PrefillAttention })
                Assert.True(s.TargetSeconds >= s.TargetFloorSeconds * (1 - 1e-12), $"{p.Source}: a stage ended below its floor on the target");
        }
        // Decode is memory-bound on the GEMM side, prefill compute-bound: the split must say so.
        Assert.All(result.Points.Where(p => p.Source.Phase == ProfilePhase.Decode && p.Source.BatchSize <= 64), p => Assert.False(p.Gemm.ComputeBound));
        Assert.All(result.Points.Where(p => p.Source.Phase == ProfilePhase.Prefill && p.Source.NewTokens * p.Source.BatchSize >= 512), p => Assert.True(p.Gemm.ComputeBound));
    }

    [Fact]
    public void AFasterTargetIsNeverSlowerAndPowerStaysWithinTheTarget()
    {
        var h100 = Catalog.Gpu("h100-sxm");
        Prop.ForAll<byte, byte, ushort>((bw, tf, rest) =>
        {
            int tdp = rest & 0xff, more = rest >> 8;
            var a = h100 with { MemoryBandwidthGBs = 1000 + 30 * bw, Bf16DenseTflops = 200 + 10 * tf, TdpWatts = 300 + 3 * tdp, IdleWatts = 40 + tdp % 60 };
            var b = a with { MemoryBandwidthGBs = a.MemoryBandwidthGBs * (1 + more % 7 / 4.0), Bf16DenseTflops = a.Bf16DenseTflops * (1 + more / 7 % 7 / 4.0) };
            var ra = Derive(s_h200_8b.Value, a);
            var rb = Derive(s_h200_8b.Value, b);
            for (var i = 0; i < ra.Points.Count; i++)
            {
                var (pa, pb) = (ra.Points[i], rb.Points[i]);
                if (pb.Derived.IterationSeconds > pa.Derived.IterationSeconds * (1 + 1e-12)) return false;
                foreach (var (p, g, prov) in new[] { (pa, a, ra.Provenance), (pb, b, rb.Provenance) })
                    if (p.DerivedWatts > g.TdpWatts + 1e-9 || p.DerivedWatts < prov.TargetStaticWatts - 1e-9) return false;
            }
            return true;
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void TheH100DerivationScalesMemoryBoundDecodeAndLeavesComputeBoundPrefillAlone()
    {
        var result = Derive(s_h200_8b.Value, Catalog.Gpu("h100-sxm"));
        var decode1 = result.Points.Single(p => p.Source.Phase == ProfilePhase.Decode && p.Source.BatchSize == 1 && p.Source.ContextTokens == 256);
        // Weights stream at 3350/4800 of the H200's rate; the fixed overhead and the latency-bound attention do not change.
        var expected = decode1.FixedSeconds + decode1.Gemm.TargetFloorSeconds + Math.Max(0, decode1.Gemm.SourceSeconds - decode1.Gemm.SourceFloorSeconds)
                       + Math.Max(decode1.DecodeAttention.SourceSeconds, decode1.DecodeAttention.TargetFloorSeconds);
        Assert.Equal(expected, decode1.Derived.IterationSeconds, 1e-12);
        Assert.InRange(decode1.Gemm.TargetFloorSeconds / decode1.Gemm.SourceFloorSeconds, 4800 / 3350.0 - 1e-9, 4800 / 3350.0 + 1e-9);
        var prefill = result.Points.Single(p => p.Source.Phase == ProfilePhase.Prefill && p.Source.BatchSize == 1 && p.Source.NewTokens == 2048);
        Assert.Equal(prefill.Source.IterationSeconds, prefill.Derived.IterationSeconds, 1e-12);
        // Static power from the target card: the measured idle scaled by the cards' idle figures (70 W / 75 W).
        Assert.Equal(s_h200_8b.Value.IdlePowerWatts * 70 / 75, result.Profile.IdlePowerWatts, 1e-9);
    }

    [Fact]
    public void PointsTooBigForTheTargetsMemoryAreLeftOutWithTheReason()
    {
        var result = Derive(s_h200_8b.Value, Catalog.Gpu("h100-sxm"));
        // The H200's largest KV shapes do not fit in the H100's 80 GB: the decode b=128 at 4096 and the biggest mixed iterations.
        Assert.Contains(result.Provenance.Dropped, d => d.StartsWith("decode b=128 ctx=4096: needs", StringComparison.Ordinal));
        var sourceNames = s_h200_8b.Value.Points.Select(p => p.ToString()).ToHashSet();
        foreach (var left in result.Provenance.Dropped)
        {
            var name = left[..left.IndexOf(": needs", StringComparison.Ordinal)];
            Assert.Contains(name, sourceNames);
            Assert.DoesNotContain(result.Profile.Points, p => p.ToString() == name);
            var need = double.Parse(left.Split("needs ")[1].Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
            Assert.True(need > 80, left);
            Assert.EndsWith("h100-sxm has 85.5 GB", left);
        }
        Assert.Equal(s_h200_8b.Value.Points.Count, result.Profile.Points.Count + result.Provenance.Dropped.Count);
        Assert.Empty(Derive(s_h200_8b.Value, Catalog.Gpu("b200")).Provenance.Dropped);
    }

    [Theory]
    [InlineData(".parquet")]
    [InlineData(".json")]
    public void ADerivedProfileSaysSoAfterARoundTripAndEverywhereItIsShown(string extension)
    {
        var result = Derive(s_h200_8b.Value, Catalog.Gpu("h100-sxm"));
        var path = Path.Combine(_dir, "p" + extension);
        result.Profile.Save(path);
        var loaded = MeasuredProfile.Load(path);
        Assert.True(loaded.Metadata.IsDerived);
        var d = loaded.Metadata.Derived!;
        Assert.Equal(result.Provenance.From, d.From);
        Assert.Equal(result.Provenance.FromSha256, d.FromSha256);
        Assert.Equal(ProfileDeriver.MethodName, d.Method);
        Assert.Equal(Catalog.Gpu("h100-sxm"), d.TargetDatasheet with { NvmlNames = Catalog.Gpu("h100-sxm").NvmlNames });
        Assert.Equal(result.Provenance.SourceRates, d.SourceRates);
        Assert.Equal(result.Provenance.StageMultipliers, d.StageMultipliers);
        Assert.Equal(result.Provenance.Dropped, d.Dropped);
        Assert.Equal(result.Provenance.FixedOverheadSeconds, d.FixedOverheadSeconds);
        Assert.DoesNotContain(loaded.Metadata.Extra.Keys, k => k.StartsWith(DerivedProvenance.KeyPrefix, StringComparison.Ordinal));
        // The source's engine travels with the derived numbers (a check or validation tells engines apart by it).
        var engine = ProfileMetadata.EngineEntries(s_h200_8b.Value.Metadata.Extra);
        Assert.NotEmpty(engine);
        Assert.Equal(engine, ProfileMetadata.EngineEntries(loaded.Metadata.Extra));
        Assert.True(loaded.Metadata.SameAs(result.Profile.Metadata));

        var model = new ProfileCostModel(loaded);
        Assert.True(model.IsDerived);
        Assert.Equal("derived:h100-sxm/llama-3.1-8b", model.Name);
        Assert.Equal("h100-sxm", model.Gpu.Name);
        Assert.Contains("derived, not measured", model.Derivation!.Note);
        var summary = ProfileSummary.Create(loaded, path);
        Assert.NotNull(summary.Derived);
        Assert.All(summary.JPerToken, r => Assert.StartsWith("derived, ", r.Method));
        Assert.Contains("\"derived\":", summary.ToJson());
        // A derived profile has no spread: its "n/a" figures are null, not the string "NaN" no JSON reader takes.
        Assert.DoesNotContain("NaN", summary.ToJson());
        Assert.Equal(System.Text.Json.JsonValueKind.Null, System.Text.Json.JsonDocument.Parse(summary.ToJson()).RootElement.GetProperty("measurement").GetProperty("median_cv_time").ValueKind);

        var measured = new ProfileCostModel(s_h200_8b.Value);
        Assert.False(measured.IsDerived);
        Assert.Null(measured.Derivation);
        Assert.StartsWith("profile:", measured.Name);
        Assert.Null(ProfileSummary.Create(s_h200_8b.Value, "x").Derived);
    }

    [Fact]
    public void RatesFromAnotherGpuAreRefusedNamingBothFiles()
    {
        var e = Assert.Throws<ArgumentException>(() => ProfileDeriver.DeriveFiles(Repo("calibration/h200/llama-3.1-8b/profile.parquet"), "h100-sxm",
            Repo("calibration/engine/h100-engine.json"), "t", "c", DateTimeOffset.UnixEpoch));
        Assert.Contains("h100-engine.json was measured on NVIDIA H100 80GB HBM3", e.Message);
        Assert.Contains("profile.parquet was measured on NVIDIA H200", e.Message);
    }

    [Fact]
    public void ADerivedProfileIsNotASource()
    {
        var path = Path.Combine(_dir, "d.parquet");
        Derive(s_h200_8b.Value, Catalog.Gpu("h100-sxm")).Profile.Save(path);
        var e = Assert.Throws<ArgumentException>(() => ProfileDeriver.DeriveFiles(path, "a100-sxm", Repo("calibration/engine/h200-engine.json"), "t", "c", DateTimeOffset.UnixEpoch));
        Assert.Contains("is itself a derived profile", e.Message);
    }

    [Fact]
    public void BadTargetsSourcesAndRateFilesGetClearErrors()
    {
        var h200Profile = Repo("calibration/h200/llama-3.1-8b/profile.parquet");
        var rates = Repo("calibration/engine/h200-engine.json");
        var unknown = Assert.Throws<KeyNotFoundException>(() => ProfileDeriver.DeriveFiles(h200Profile, "h300", rates, "t", "c", DateTimeOffset.UnixEpoch));
        Assert.Contains("unknown GPU 'h300'", unknown.Message);

        // A rates file without the measured roofline (bench run without --roofline).
        var noRates = Path.Combine(_dir, "norates.json");
        File.WriteAllText(noRates, """{"model":"llama-3.1-8b","tp":1,"gpu":"NVIDIA H200","results":[]}""");
        var e1 = Assert.Throws<InvalidDataException>(() => ProfileDeriver.DeriveFiles(h200Profile, "h100-sxm", noRates, "t", "c", DateTimeOffset.UnixEpoch));
        Assert.Contains("no measured rates", e1.Message);
        Assert.Contains("norates.json", e1.Message);

        var badRow = Path.Combine(_dir, "badrow.json");
        File.WriteAllText(badRow, """
            {"model":"llama-3.1-8b","tp":1,"gpu":"NVIDIA H200","gemm_flops_per_s":7e14,"copy_bytes_per_s":4e12,
             "results":[{"label":"decode b=1 ctx=1024","sequences":1,"new_tokens":1,"context":1024,"median_s":0.005},
                        {"label":"decode b=8 ctx=1024","sequences":8,"new_tokens":8,"context":1024}]}
            """);
        var e2 = Assert.Throws<InvalidDataException>(() => EngineBenchFile.Read(badRow));
        Assert.Contains("badrow.json: results[1]: field 'median_s' is missing", e2.Message);

        var negative = Path.Combine(_dir, "negative.json");
        File.WriteAllText(negative, """{"model":"llama-3.1-8b","tp":1,"gpu":"NVIDIA H200","gemm_flops_per_s":-1,"copy_bytes_per_s":4e12}""");
        Assert.Contains("gemm_flops_per_s must be a positive number", Assert.Throws<InvalidDataException>(() => EngineBenchFile.Read(negative)).Message);

        var notJson = Path.Combine(_dir, "broken.json");
        File.WriteAllText(notJson, "{ not json");
        Assert.Contains("broken.json: not valid JSON", Assert.Throws<InvalidDataException>(() => EngineBenchFile.Read(notJson)).Message);

        // A profile from a GPU the catalog does not know has no datasheet to form ratios against.
        var odd = ProfileTestData.Make(ProfileTestData.Smooth);
        odd = new MeasuredProfile(odd.Metadata with { GpuName = "Acme Tensor 9" }, odd.Points);
        var e3 = Assert.Throws<ArgumentException>(() => Derive(odd, Catalog.Gpu("h100-sxm")));
        Assert.Contains("'Acme Tensor 9', which the GPU catalog does not know", e3.Message);
    }

    [Fact]
    public void ADamagedDerivationRecordIsReportedByKey()
    {
        var kv = new Dictionary<string, string>(Derive(s_h200_8b.Value, Catalog.Gpu("h100-sxm")).Profile.Metadata.ToKeyValues())
        {
            ["derived.fixed_overhead_s"] = "fast",
        };
        var e = Assert.Throws<InvalidDataException>(() => ProfileMetadata.FromKeyValues(kv, "x.parquet"));
        Assert.Equal("x.parquet: derived profile metadata 'derived.fixed_overhead_s' is not a number: 'fast'", e.Message);
        kv.Remove("derived.fixed_overhead_s");
        Assert.Contains("lacks 'derived.fixed_overhead_s'", Assert.Throws<InvalidDataException>(() => ProfileMetadata.FromKeyValues(kv, "x.parquet")).Message);
    }

    [Fact]
    public void EngineBenchFilesReadAsShapes()
    {
        var bench = EngineBenchFile.Read(Repo("calibration/engine/h100-engine.json"));
        Assert.Equal("NVIDIA H100 80GB HBM3", bench.GpuName);
        Assert.Equal(9, bench.Results.Count);
        Assert.Equal(IterationShape.Prefill(4, 1024), bench.Results.Single(r => r.Label == "prefill 4x1024").Shape);
        Assert.Equal(IterationShape.Decode(64, 1025), bench.Results.Single(r => r.Label == "decode b=64 ctx=1024").Shape);
        Assert.Equal(0.011234272003173828, bench.Results.Single(r => r.Label == "decode b=64 ctx=1024").MedianSeconds);
        Assert.Equal(789860869762032.8, bench.Rates!.GemmFlopsPerSecond);
    }
}
