using Joules.Profiles.Derived;
using Joules.Profiles.Measured;
using Xunit;
using Xunit.Abstractions;

namespace Joules.Profiles.Tests;

/// <summary>
/// The derived H100 profiles against what was measured on an H100 before: the error table published in
/// src/Joules.Profiles/README.md, recomputed from the shipped H200 profiles and held under the bars stated there.
/// </summary>
public class DerivationValidationTests(ITestOutputHelper output)
{
    private static string Repo(string relative) => Path.Combine(Joules.Tests.RepoPaths.Root, relative);

    /// <summary>The 8B source: the profile measured with the CUDA-core work-list decode attention, the engine nearest the
    /// one the H100 ran on 2026-11-22. The shipped 8B profile was re-measured with the tensor-core decode attention
    /// (decode b=64 ctx=1024 9.23 -> 8.09 ms on the H200); derived from it, that shape comes out 12.8 % under the H100's
    /// old-engine measurement, which is the engines' difference, not the derivation's error.</summary>
    private const string Source8B = "calibration/h200/llama-3.1-8b/work-list-engine/profile.work-list.parquet";
    private const string Shipped8B = "calibration/h200/llama-3.1-8b/profile.parquet";
    private const string Source70B = "calibration/h200/llama-3.1-70b-tp8/profile.parquet";
    private const string H200Rates = "calibration/engine/h200-engine.json";
    private const string H100Engine = "calibration/engine/h100-engine.json";

    /// <summary>Derives as `joules profile derive` does from a shipped profile and the shipped H200 rates.</summary>
    internal static DerivationResult DeriveShipped(string source, string target = "h100-sxm") =>
        ProfileDeriver.DeriveFiles(Repo(source), target, Repo(H200Rates), "test", "test", DateTimeOffset.UnixEpoch);

    /// <summary>H100 measurements of the same engine kept in the repository besides the engine-check JSON (all from calibration/engine/h100-engine-check.log, one H100 80GB HBM3, 2026-11-22).</summary>
    private static IEnumerable<ReferencePoint> LogShapes8B() =>
    [
        new("prefill 1x512 over 8192 cached", IterationShape.Prefill(1, 512, 8192), 0.029957, null, "h100-engine-check.log"),
        new("prefill 1x8192", IterationShape.Prefill(1, 8192), 0.303223, null, "h100-engine-check.log"),
        // The top README's H100 calibration point (the run whose files were lost): 11.27 ms, 0.107 J per generated token.
        new("decode b=64 ctx=1024 (calibration)", IterationShape.Decode(64, 1025), 0.01127, 0.107, "README.md"),
    ];

    /// <summary>Label of the 70B shard's H100 reference, measured with the decode kernel before 2026-12-03 (a group of 8 query heads as one work item).</summary>
    /// <remarks>The H200 profile it is derived from was re-measured with groups of 8 split into two items of 4, which
    /// made this shape 29.5 % faster on the H200 (15.07 -> 10.62 ms); no H100 has run that engine, so the row is
    /// printed but held to no bar until an H100 measures the same engine.</remarks>
    internal const string PreviousEngine70B = "70B tp8 shard: decode b=64 ctx=1024 (H100: previous decode kernel)";

    private static readonly ReferencePoint Shape70B = new(PreviousEngine70B, IterationShape.Decode(64, 1025), 0.016492, null, "h100-engine-check.log");

    /// <summary>Every row of the published table: the 8B engine-check shapes, the extra 8B shapes, the energy point and the 70B shard.</summary>
    internal static IReadOnlyList<ComparisonRow> ErrorTable()
    {
        var d8 = new ProfileCostModel(DeriveShipped(Source8B).Profile);
        var s8 = ProfileCostModel.FromFile(Repo(Source8B));
        var d70 = new ProfileCostModel(DeriveShipped(Source70B).Profile);
        var s70 = ProfileCostModel.FromFile(Repo(Source70B));
        var engine = EngineBenchFile.Read(Repo(H100Engine));
        return
        [
            .. DerivedComparison.Compare(d8, ReferencePoint.From(engine).Concat(LogShapes8B()), s8),
            .. DerivedComparison.Compare(d70, [Shape70B], s70),
        ];
    }

    // Bars (README: "Derived profiles"). Interpolated shapes inside the source grid: each time within 7%, their median
    // within 3% (2.5 % before the H200 profiles were re-measured with the faster work-list decode kernel: the H100
    // reference ran the engine of 2026-11-22, so large decode batches now derive 3-6 % under it); the chunk over 8192 cached tokens, which no grid point measures (the source profile prices it by its
    // fit, itself 8.7 % above the H100's measurement), within 15%; energy within 8%.
    private const double InterpolatedTimeBar = 0.07, MedianTimeBar = 0.03, ExtrapolatedTimeBar = 0.15, EnergyBar = 0.08;

    [Fact]
    public void DerivedH100ProfilesMatchTheH100MeasurementsWithinTheStatedBars()
    {
        var rows = ErrorTable();
        output.WriteLine(DerivedComparison.ToMarkdown(rows));
        Assert.Single(rows, r => r.Label == PreviousEngine70B);
        var time = rows.Where(r => r.Quantity == DerivedComparison.Time && r.Label != PreviousEngine70B).ToArray();
        Assert.Equal(12, time.Length);
        foreach (var r in time)
            Assert.True(Math.Abs(r.Error) < (r.Method is "fitted" or "extrapolated" && r.Label.Contains("8192") ? ExtrapolatedTimeBar : InterpolatedTimeBar),
                $"{r.Label}: derived {r.Derived:F2} ms against {r.Measured:F2} ms measured ({r.Error:+0.0%;-0.0%})");
        var median = time.Select(r => Math.Abs(r.Error)).Order().ElementAt(time.Length / 2);
        Assert.True(median < MedianTimeBar, $"median time error {median:P1}");
        var energy = Assert.Single(rows, r => r.Quantity == DerivedComparison.EnergyPerToken);
        Assert.True(Math.Abs(energy.Error) < EnergyBar, $"energy: derived {energy.Derived:F4} J/token against {energy.Measured:F4} ({energy.Error:+0.0%;-0.0%})");
    }

    [Fact]
    public void ScalingTheSourceHelps()
    {
        // The derivation must beat the naive answer "an H100 behaves like the H200 it was derived from" on the decode
        // shapes, where the cards differ (memory bandwidth); prefill is compute-bound on both and equal by construction.
        var decode = ErrorTable().Where(r => r.Quantity == DerivedComparison.Time && r.Label.Contains("decode") && r.Label != PreviousEngine70B).ToArray();
        Assert.NotEmpty(decode);
        double Mean(Func<ComparisonRow, double> f) => decode.Average(f);
        var derived = Mean(r => Math.Abs(r.Error));
        var unscaled = Mean(r => Math.Abs(r.SourceProfile!.Value / r.Measured - 1));
        Assert.True(derived < unscaled / 3, $"mean decode error derived {derived:P1}, source unscaled {unscaled:P1}");
    }

    [Fact]
    public void AFasterEngineOnTheSourceIsAFasterDerivedProfile()
    {
        // The shipped H100 8B profile is derived from the tensor-core profile: on the decode shapes the H100 measured, it
        // must be faster than the one derived from the work-list profile, by about what the engines differ on the H200
        // (the derivation scales the measured parts; it must not undo an engine's gain).
        var wl = new ProfileCostModel(DeriveShipped(Source8B).Profile);
        var tc = new ProfileCostModel(DeriveShipped(Shipped8B).Profile);
        var h200Wl = ProfileCostModel.FromFile(Repo(Source8B));
        var h200Tc = ProfileCostModel.FromFile(Repo(Shipped8B));
        foreach (var (b, ctx) in new[] { (64, 1025), (128, 1025), (256, 1025) })
        {
            var shape = IterationShape.Decode(b, ctx);
            double derivedGain = tc.Estimate(shape).Seconds / wl.Estimate(shape).Seconds, sourceGain = h200Tc.Estimate(shape).Seconds / h200Wl.Estimate(shape).Seconds;
            output.WriteLine($"decode b={b}: derived tc/wl {derivedGain:F3}, H200 tc/wl {sourceGain:F3}");
            Assert.True(derivedGain < 0.97, $"decode b={b}: the tensor-core source derives {derivedGain:F3}x the work-list one");
            Assert.True(Math.Abs(derivedGain - sourceGain) < 0.08, $"decode b={b}: derived gain {derivedGain:F3} against the H200's {sourceGain:F3}");
        }
    }
}

/// <summary>
/// The derived profiles committed under calibration/derived: where they sit, that they say what they are derived
/// from, and that they are exactly what `joules profile derive` makes of today's sources (a re-measured source or
/// a changed method fails here until the files are derived again with the command in their command.txt).
/// </summary>
public class ShippedDerivedProfileTests
{
    private static string Root => Joules.Tests.RepoPaths.Root;

    private static IEnumerable<string> Files() =>
        Directory.EnumerateFiles(Path.Combine(Root, "calibration", "derived"), ProfileDeriver.FileName, SearchOption.AllDirectories)
            .Select(p => Path.GetRelativePath(Root, p).Replace('\\', '/')).Order();

    public static TheoryData<string> ShippedDerived() => new(Files());

    [Fact]
    public void TheH100ProfilesShipAndNothingThereLooksMeasured()
    {
        var files = Files().ToArray();
        Assert.Contains("calibration/derived/h100-sxm/llama-3.1-8b/profile.derived.parquet", files);
        Assert.Contains("calibration/derived/h100-sxm/llama-3.1-70b-tp8/profile.derived.parquet", files);
        // Measured profiles are found by the name profile.parquet; none may sit among the derived ones.
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(Root, "calibration", "derived"), "profile.parquet", SearchOption.AllDirectories));
    }

    [Theory]
    [MemberData(nameof(ShippedDerived))]
    public void ShippedDerivedProfileIsCurrentAndSaysWhereItComesFrom(string file)
    {
        var full = Path.Combine(Root, file);
        var profile = MeasuredProfile.Load(full);
        var d = profile.Metadata.Derived;
        Assert.NotNull(d);
        Assert.Equal(d.Reshards ? ProfileDeriver.ReshardMethodName : ProfileDeriver.MethodName, d.Method);
        Assert.Equal(ProfileDeriver.Sha256(Path.Combine(Root, d.From)), d.FromSha256);
        Assert.Equal(ProfileDeriver.Sha256(Path.Combine(Root, d.SourceRates.Source)), d.SourceRates.SourceSha256);
        var m = profile.Metadata;
        Assert.Equal(Path.GetFullPath(ProfileDeriver.DefaultPath(d.TargetDatasheet.Name, m.Model.Name, m.TensorParallel, Path.Combine(Root, "calibration"))), Path.GetFullPath(full));
        var command = File.ReadAllText(Path.Combine(Path.GetDirectoryName(full)!, "command.txt")).Trim();
        Assert.Equal(m.Command, command);
        Assert.StartsWith($"joules profile derive --from {d.From} --to {d.TargetDatasheet.Name} --rates {d.SourceRates.Source}", command);

        if (d.Reshards) Assert.EndsWith($" --tp {d.TargetTp}", command);
        var again = ProfileDeriver.DeriveFiles(Path.Combine(Root, d.From), d.TargetDatasheet.Name, Path.Combine(Root, d.SourceRates.Source), "test", "test", DateTimeOffset.UnixEpoch,
            d.Reshards ? d.TargetTp : null);
        Assert.Equal(again.Profile.Points.Count, profile.Points.Count);
        for (var i = 0; i < profile.Points.Count; i++)
        {
            var (shipped, now) = (profile.Points[i], again.Profile.Points[i]);
            Assert.Equal(now.ToString(), shipped.ToString());
            Assert.Equal(now.IterationSeconds, shipped.IterationSeconds, 1e-12 * now.IterationSeconds);
            Assert.Equal(now.EnergyJoules, shipped.EnergyJoules, 1e-12 * now.EnergyJoules);
        }
        Assert.Equal(again.Provenance.Dropped, d.Dropped);
        Assert.Equal(again.Provenance.TargetDatasheet.TdpWatts, d.TargetDatasheet.TdpWatts);
    }
}
