using System.Text.Json;
using Joules.Cli;
using Joules.Profiles;
using Joules.Profiles.Measured;
using Xunit;

namespace Joules.Cli.Tests;

public class ProfileCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("joules-cli-profile-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        var code = Program.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    private string WriteProfile()
    {
        var points = new List<ProfilePoint>();
        (double, double) Law(IterationShape s)
        {
            var t = Math.Max(0.005, 2.3e-5 * s.TotalTokens) + 4e-8 * s.DecodeContextTokens + 1.5e-10 * s.PrefillAttentionPairs;
            return (t, 420 * t + 0.004 * s.TotalTokens);
        }
        foreach (var b in new[] { 1, 4, 16 })
        foreach (var n in new[] { 128, 512, 2048 })
        {
            var p = new ProfilePoint { Phase = ProfilePhase.Prefill, BatchSize = b, NewTokens = n, IterationSeconds = 1, EnergyJoules = 1, Repeats = 5, CvTime = 0.004, CvEnergy = 0.01 };
            var (t, e) = Law(p.Shape);
            points.Add(p with { IterationSeconds = t, EnergyJoules = e });
        }
        foreach (var b in new[] { 1, 16, 64, 256 })
        foreach (var c in new[] { 512, 2048 })
        {
            var p = new ProfilePoint { Phase = ProfilePhase.Decode, BatchSize = b, NewTokens = 1, ContextTokens = c, IterationSeconds = 1, EnergyJoules = 1, Repeats = 5, CvTime = 0.003, CvEnergy = 0.012, ThrottleReasons = b == 256 ? ThrottleReasonBits.SwPowerCap : 0 };
            var (t, e) = Law(p.Shape);
            points.Add(p with { IterationSeconds = t, EnergyJoules = e });
        }
        points.Add(new ProfilePoint { Phase = ProfilePhase.Idle, IterationSeconds = 2, EnergyJoules = 140, MeanPowerWatts = 70, Repeats = 3 });
        var meta = new ProfileMetadata
        {
            GpuName = "NVIDIA H100 80GB HBM3", GpuUuid = "GPU-1234", DriverVersion = "570.86", CudaVersion = "12.8", PowerLimitWatts = 700,
            Model = Catalog.Model("llama-3.1-8b"), Grid = "{\"name\":\"quick\"}", ToolVersion = "0.1.0", IdlePowerWatts = 70,
            CreatedUtc = new DateTimeOffset(2026, 11, 22, 5, 0, 0, TimeSpan.Zero), Command = "joules calibrate --quick",
        };
        var path = Path.Combine(_dir, "profile.json");
        new MeasuredProfile(meta, points).Save(path);
        return path;
    }

    [Fact]
    public void ShowDescribesTheProfile()
    {
        var (code, output, err) = Run("profile", "show", WriteProfile());
        Assert.True(code == 0, err);
        foreach (var s in new[] { "NVIDIA H100 80GB HBM3", "h100-sxm", "llama-3.1-8b", "quick", "9 prefill, 8 decode", "idle power   70.0 W", "decode batch 64 at context 1024", "J/token", "leave-one-out over 17 points", "2 point(s) power- or thermal-throttled", "median cv time 0.40%" })
            Assert.Contains(s, output);
    }

    [Fact]
    public void HeldOutListsEveryPointWithTheErrorsTheSummaryReports()
    {
        var path = WriteProfile();
        var (code, output, err) = Run("profile", "show", path, "--held-out");
        Assert.True(code == 0, err);
        var report = ProfileCostModel.FromFile(path).CrossValidate();
        var rows = output.Split('\n').SkipWhile(l => !l.Contains("held-out point")).Skip(2).TakeWhile(l => !l.Contains("held out one at a time")).ToArray();
        Assert.Equal(report.Count, rows.Length);
        // Worst first: the first row is the point the summary names as worst in time or energy.
        var worst = report.Points.MaxBy(p => Math.Max(Math.Abs(p.TimeError), Math.Abs(p.EnergyError)))!;
        Assert.StartsWith("  " + worst.Point, rows[0]);
        Assert.Contains($"{report.Count} points held out one at a time", output);
        Assert.DoesNotContain("-+", output);
    }

    [Fact]
    public void DeriveWithTpWritesTheShardOfAnotherDegreeMarkedDerived()
    {
        var source = Path.Combine(Joules.Tests.RepoPaths.Calibration, "h200", "llama-3.1-70b-tp8", "profile.parquet");
        var rates = Path.Combine(Joules.Tests.RepoPaths.Calibration, "engine", "h200-engine.json");
        var outPath = Path.Combine(_dir, "tp4.derived.parquet");
        var (code, output, err) = Run("profile", "derive", "--from", source, "--to", "h200", "--rates", rates, "--tp", "4", "-o", outPath);
        Assert.True(code == 0, err);
        Assert.Contains("shard        tp 8 -> tp 4", output);
        Assert.Contains("a tp4 shard", output);
        var profile = MeasuredProfile.Load(outPath);
        Assert.Equal(4, profile.Metadata.TensorParallel);
        Assert.True(profile.Metadata.IsDerived);
        Assert.Equal(4, profile.Metadata.Derived!.TargetTp);
        (code, output, _) = Run("profile", "show", outPath);
        Assert.True(code == 0);
        Assert.Contains("DERIVED", output);
        Assert.Contains("tp           4", output);

        // A degree the model cannot be split into is a clear error, not a stack trace.
        (code, _, err) = Run("profile", "derive", "--from", source, "--to", "h200", "--rates", rates, "--tp", "3", "-o", Path.Combine(_dir, "tp3.derived.parquet"));
        Assert.NotEqual(0, code);
        Assert.Contains("3", err);
        Assert.DoesNotContain("Exception", err);
        Assert.False(File.Exists(Path.Combine(_dir, "tp3.derived.parquet")));
        (code, _, err) = Run("profile", "derive", "--from", source, "--to", "h200", "--rates", rates, "--tp", "0");
        Assert.NotEqual(0, code);
        Assert.Contains("--tp must be at least 1", err);
    }

    [Fact]
    public void ShowJsonIsMachineReadable()
    {
        var (code, output, err) = Run("profile", "show", WriteProfile(), "--json");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(output);
        var root = doc.RootElement;
        Assert.Equal("NVIDIA H100 80GB HBM3", root.GetProperty("gpu").GetProperty("name").GetString());
        Assert.Equal(17, root.GetProperty("cross_validation").GetProperty("points").GetInt32());
        Assert.True(root.GetProperty("cross_validation").GetProperty("median_energy_error").GetDouble() < 0.05);
        var decode64 = root.GetProperty("j_per_token").EnumerateArray().Single(e => e.GetProperty("label").GetString() == "decode batch 64 at context 1024");
        Assert.InRange(decode64.GetProperty("j_per_token").GetDouble(), 0.01, 1);
        Assert.Equal(70, root.GetProperty("idle_power_w").GetDouble(), 3);
        // Beside each measured figure, the datasheet roofline of the same iteration on the profile's GPU: faster, by construction.
        var roofline = new Joules.Profiles.Roofline.RooflineCostModel(Catalog.Gpu("h100-sxm"), Catalog.Model("llama-3.1-8b"))
            .Estimate(IterationShape.Decode(64, 1025));
        Assert.Equal(roofline.Seconds, decode64.GetProperty("roofline_iteration_s").GetDouble(), 12);
        Assert.Equal(roofline.Joules / 64, decode64.GetProperty("roofline_j_per_token").GetDouble(), 12);
    }

    [Fact]
    public void ShowOfTheShippedProfileSetsMeasuredBesideTheRoofline()
    {
        var (code, output, err) = Run("profile", "show", Path.Combine(Joules.Tests.RepoPaths.Calibration, "h200", "llama-3.1-8b", "profile.parquet"));
        Assert.True(code == 0, err);
        Assert.Contains("roofline: time", output);
        Assert.Contains("NVIDIA H200 (h200)", output);
        Assert.Contains("decode batch 64 at context 1024      8.01 ms", output);
        // Which kernels measured it, as issue 16 asks a profile to say.
        Assert.Contains("engine       decode attention: joules work-list split-KV on tensor cores", output);
        Assert.Contains("projections: cuBLASLt", output);
        Assert.Contains("prefill attention: cuDNN 9.14.0 fused flash attention", output);
    }

    [Fact]
    public void ShowSaysWhichDecodeAttentionMeasuredEachSeventyBillionShard()
    {
        string DecodeAttention(params string[] path)
        {
            var (code, output, err) = Run("profile", "show", Path.Combine([Joules.Tests.RepoPaths.Calibration, "h200", .. path]), "--json");
            Assert.True(code == 0, err);
            using var doc = JsonDocument.Parse(output);
            return doc.RootElement.GetProperty("engine").GetProperty("decode_attention").GetString()!;
        }
        Assert.Contains("on tensor cores", DecodeAttention("llama-3.1-70b-tp8", "profile.parquet"));
        Assert.Contains("on tensor cores", DecodeAttention("llama-3.1-70b-tp2", "profile.parquet"));
        Assert.Contains("items of at most 4 query heads", DecodeAttention("llama-3.1-70b-tp2", "work-list-engine", "profile.work-list.parquet"));
        Assert.Contains("items of at most 4 query heads", DecodeAttention("llama-3.1-70b-tp8", "work-list-engine", "profile.work-list.parquet"));
        Assert.Contains("on tensor cores", DecodeAttention("llama-3.1-8b", "profile.parquet"));
        Assert.DoesNotContain("tensor cores", DecodeAttention("llama-3.1-8b", "work-list-engine", "profile.work-list.parquet"));
    }

    [Fact]
    public void TheCudnnPrefillProfileSaysSoAndMeasuredFreshPromptsFasterThanTheJoulesKernelOne()
    {
        var dir = Path.Combine(Joules.Tests.RepoPaths.Calibration, "h200", "llama-3.1-8b");
        JsonElement Show(string path)
        {
            var (code, output, err) = Run("profile", "show", path, "--json");
            Assert.True(code == 0, err);
            return JsonDocument.Parse(output).RootElement.Clone();
        }
        // The profile shipped until 2026-12-04 (Joules' prefill kernel), the side profile with cuDNN for fresh prompts only,
        // and the shipped one (cuDNN for every prefill, chunks over a cache through its paged load).
        var joules = Path.Combine(dir, "joules-prefill", "profile.joules-prefill.parquet");
        var old = Show(joules);
        var cudnn = Show(Path.Combine(dir, "cudnn-prefill", "profile.cudnn-prefill.parquet"));
        var shipped = Show(Path.Combine(dir, "profile.parquet"));
        Assert.StartsWith("joules flash-style", old.GetProperty("engine").GetProperty("prefill_attention").GetString());
        var attention = cudnn.GetProperty("engine").GetProperty("prefill_attention").GetString()!;
        Assert.StartsWith("cuDNN 9.", attention);
        Assert.Contains("chunks over a cache: joules", attention);
        Assert.Contains("chunks over a cache through its paged cache load", shipped.GetProperty("engine").GetProperty("prefill_attention").GetString());
        // The same decode kernels measured all three, so only prefill attention separates them.
        Assert.Equal(old.GetProperty("engine").GetProperty("decode_attention").GetString(), cudnn.GetProperty("engine").GetProperty("decode_attention").GetString());
        Assert.Equal(old.GetProperty("engine").GetProperty("decode_attention").GetString(), shipped.GetProperty("engine").GetProperty("decode_attention").GetString());
        // Where cuDNN ran (fresh prompts), the long prompts took well under the Joules kernel's time: 1x32768 1201 vs 2641 ms.
        var (code, check, err) = Run("profile", "check", joules, Path.Combine(dir, "cudnn-prefill", "profile.cudnn-prefill.parquet"));
        Assert.True(code == 0, err);
        Assert.Contains("Measured by different engines", check);
        var row = check.Split('\n').First(l => l.StartsWith("| prefill b=1 new=32768 ctx=0 |"));
        var cells = row.Split('|', StringSplitOptions.TrimEntries);
        double measured = double.Parse(cells[2], System.Globalization.CultureInfo.InvariantCulture), predicted = double.Parse(cells[3], System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(measured / predicted, 0.3, 0.6);
    }

    [Fact]
    public void ShowOfAMissingFileIsAClearError()
    {
        var (code, _, err) = Run("profile", "show", Path.Combine(_dir, "nope.json"));
        Assert.NotEqual(0, code);
        Assert.Contains("profile not found", err);
        Assert.DoesNotContain("bug", err);
    }

    [Fact]
    public void ShowOfAnIdleOnlyProfileStillDescribesIt()
    {
        var path = Path.Combine(_dir, "idle.parquet");
        var meta = new ProfileMetadata { GpuName = "NVIDIA H200", Model = Catalog.Model("llama-3.1-8b"), IdlePowerWatts = 75 };
        new MeasuredProfile(meta, [new ProfilePoint { Phase = ProfilePhase.Idle, IterationSeconds = 2, EnergyJoules = 150, MeanPowerWatts = 75, Repeats = 3 }]).Save(path);
        var (code, output, err) = Run("profile", "show", path);
        Assert.True(code == 0, err);
        Assert.Contains("idle power   75.0 W", output);
        Assert.Contains("none (no measured iterations)", output);
    }
}
