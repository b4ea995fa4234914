using System.Text.Json.Nodes;
using Joules.Calibration.Measurement;
using Joules.Profiles;
using Joules.Profiles.Measured;
using Xunit;

namespace Joules.Calibration.Tests;

/// <summary>
/// Checks the profiles measured on real GPUs and shipped under calibration/: each must be exactly what its raw
/// per-trial log says, cover its whole grid, obey physics (no point beats the datasheet roofline or the power
/// limit), and meet the measurement and cost-model quality bars.
/// </summary>
public class ShippedProfileTests
{
    private static string RepoRoot => Joules.Tests.RepoPaths.Root;

    public static TheoryData<string> ShippedProfiles()
    {
        var data = new TheoryData<string>();
        foreach (var p in Directory.EnumerateFiles(Path.Combine(RepoRoot, "calibration"), "profile.parquet", SearchOption.AllDirectories).Order())
            data.Add(Path.GetRelativePath(RepoRoot, Path.GetDirectoryName(p)!));
        return data;
    }

    [Fact]
    public void AtLeastOneMeasuredProfileShips() => Assert.NotEmpty(ShippedProfiles());

    [Theory]
    [MemberData(nameof(ShippedProfiles))]
    public void ProfileSitsWhereCalibrateWritesItAndKeepsItsCommand(string dir)
    {
        var full = Path.Combine(RepoRoot, dir);
        var profile = MeasuredProfile.Load(Path.Combine(full, "profile.parquet"));
        var m = profile.Metadata;
        var gpu = Catalog.Gpu(m.GpuName);
        var expected = Path.GetFullPath(ProfileCostModel.DefaultPath(gpu.Name, m.Model.Name, m.TensorParallel, Path.Combine(RepoRoot, "calibration")));
        // A shard measured beside a whole instance of the same tp (for the comparison table) sits in "<dir>-shard".
        var shardBeside = Path.Combine(Path.GetDirectoryName(Path.GetDirectoryName(expected)!)!, Path.GetFileName(Path.GetDirectoryName(expected)!) + "-shard", "profile.parquet");
        var isShard = m.Extra.GetValueOrDefault(ProfileBuilder.ModeKey) != "instance";
        Assert.Contains(Path.GetFullPath(Path.Combine(full, "profile.parquet")), isShard && m.TensorParallel > 1 ? new[] { expected, shardBeside } : new[] { expected });
        var command = File.ReadAllText(Path.Combine(full, "command.txt")).Trim();
        Assert.StartsWith("joules calibrate", command);
        Assert.Contains(m.Model.Name, command);
        Assert.True(File.Exists(Path.Combine(full, "raw.jsonl")));
    }

    [Theory]
    [MemberData(nameof(ShippedProfiles))]
    public void EveryPointIsTheMedianOfItsTrialsInTheRawLog(string dir)
    {
        var full = Path.Combine(RepoRoot, dir);
        var profile = MeasuredProfile.Load(Path.Combine(full, "profile.parquet"));
        // A whole instance's raw log holds the energy of all its GPUs; its profile holds the per-GPU share.
        var gpus = int.Parse(profile.Metadata.Extra.GetValueOrDefault(ProfileBuilder.GpusKey, "1"), System.Globalization.CultureInfo.InvariantCulture);
        var trials = new Dictionary<string, List<(double Seconds, double Joules)>>();
        var completed = new HashSet<string>();
        foreach (var line in File.ReadLines(Path.Combine(full, "raw.jsonl")))
        {
            var o = JsonNode.Parse(line)!.AsObject();
            var type = (string?)o["type"];
            if (type == "point") completed.Add((string)o["key"]!);
            // A resume abandons the trials of the point that was interrupted: the resumed run measures it afresh.
            if (type == "resume")
                foreach (var k in trials.Keys.Where(k => !completed.Contains(k)).ToList()) trials.Remove(k);
            if (type != "trial") continue;
            var n = (int)o["iterations"]!;
            var key = (string)o["key"]!;
            if (!trials.TryGetValue(key, out var list)) trials[key] = list = [];
            list.Add(((double)o["seconds"]! / n, (double)o["energy_j"]! / n / gpus));
        }
        foreach (var p in profile.Points.Where(p => p.Phase != ProfilePhase.Idle))
        {
            var key = CalibrationGrid.Key(ToCalibrationPoint(p), p.SmClockTarget is { } c ? (uint)c : null);
            Assert.True(trials.TryGetValue(key, out var t), $"{dir}: no trials in the raw log for {key}");
            Assert.Equal(p.Repeats, t!.Count);
            Assert.Equal(Statistics.Median(t.Select(x => x.Seconds).ToArray()), p.IterationSeconds, 12);
            Assert.Equal(Statistics.Median(t.Select(x => x.Joules).ToArray()), p.EnergyJoules, 9);
            Assert.Equal(Statistics.CoefficientOfVariation(t.Select(x => x.Joules).ToArray()), p.CvEnergy, 9);
        }
    }

    [Theory]
    [MemberData(nameof(ShippedProfiles))]
    public void EveryGridPointIsMeasuredOrListedAsSkipped(string dir)
    {
        var full = Path.Combine(RepoRoot, dir);
        var (header, points, skipped) = RawLog.ReadAll(Path.Combine(full, "raw.jsonl"));
        Assert.NotNull(header);
        var profile = MeasuredProfile.Load(Path.Combine(full, "profile.parquet"));
        var measured = profile.Points.Where(p => p.Phase != ProfilePhase.Idle)
            .Select(p => CalibrationGrid.Key(ToCalibrationPoint(p), null)).ToHashSet();
        var grid = JsonNode.Parse(header!.Grid)!["points"]!.AsArray();
        Assert.NotEmpty(grid);
        foreach (var g in grid)
        {
            var point = new CalibrationPoint(CalibrationGrid.ParsePhases((string)g!["phase"]!)[0], (int)g["batch"]!, (int)g["new_tokens"]!,
                (int)g["context"]!, (int)g["decode_sequences"]!, (int)g["decode_context"]!);
            var key = CalibrationGrid.Key(point, null);
            Assert.True(measured.Contains(key) || skipped.ContainsKey(key), $"{dir}: grid point {key} is neither in the profile nor listed as skipped");
        }
        Assert.Single(profile.Points, p => p.Phase == ProfilePhase.Idle);
        Assert.Equal(points.Count, measured.Count + 1);
    }

    [Theory]
    [MemberData(nameof(ShippedProfiles))]
    public void NoPointBeatsTheDatasheetRooflineOrThePowerLimit(string dir)
    {
        var profile = MeasuredProfile.Load(Path.Combine(RepoRoot, dir, "profile.parquet"));
        var m = profile.Metadata;
        var gpu = Catalog.Gpu(m.GpuName);
        var shard = m.Model.Shard(Math.Max(1, m.TensorParallel));
        // Every iteration reads each layer's weights and the LM-head shard at least once (the embedding only in rows).
        var lmHead = (long)shard.VocabShard * shard.Hidden;
        var readBytes = (shard.ParametersPerGpu - (m.Model.TiedEmbeddings ? 0 : lmHead)) * (double)m.Model.BytesPerElement;
        var layerParams = shard.ParametersPerGpu - lmHead * (m.Model.TiedEmbeddings ? 1 : 2);
        foreach (var p in profile.Points.Where(p => p.Phase != ProfilePhase.Idle))
        {
            var memoryFloor = readBytes / (gpu.MemoryBandwidthGBs * 1e9);
            var computeFloor = 2.0 * layerParams * p.Shape.TotalTokens / (gpu.Bf16DenseTflops * 1e12);
            Assert.True(p.IterationSeconds > Math.Max(memoryFloor, computeFloor),
                $"{dir}: {p} took {p.IterationSeconds * 1e3:F3} ms, faster than the roofline floor {Math.Max(memoryFloor, computeFloor) * 1e3:F3} ms");
            var watts = p.EnergyJoules / p.IterationSeconds;
            Assert.InRange(watts, profile.IdlePowerWatts, m.PowerLimitWatts * 1.05);
        }
        Assert.InRange(profile.IdlePowerWatts, 20, m.PowerLimitWatts / 2);
    }

    [Theory]
    [MemberData(nameof(ShippedProfiles))]
    public void PointsAreRepeatableAndTheCostModelCrossValidates(string dir)
    {
        var profile = MeasuredProfile.Load(Path.Combine(RepoRoot, dir, "profile.parquet"));
        var measured = profile.Points.Where(p => p.Phase != ProfilePhase.Idle).ToArray();
        Assert.True(Statistics.Median(measured.Select(p => p.CvEnergy).ToArray()) < 0.02, "median energy CV is not under 2%");
        Assert.True(Statistics.Median(measured.Select(p => p.CvTime).ToArray()) < 0.02, "median time CV is not under 2%");
        var cv = new ProfileCostModel(profile).CrossValidate();
        // The default grid is dense enough for the median bars; its worst held-out points are grid corners and
        // the mixed chunked-prefill points, which leave-one-out turns into extrapolations (README: measured profiles).
        var isDefaultGrid = (string?)JsonNode.Parse(profile.Metadata.Grid)!["name"] == "default";
        Assert.True(cv.MedianTimeError < (isDefaultGrid ? 0.03 : 0.08), $"median leave-one-out time error {cv.MedianTimeError:P1}");
        Assert.True(cv.MedianEnergyError < (isDefaultGrid ? 0.03 : 0.08), $"median leave-one-out energy error {cv.MedianEnergyError:P1}");
        Assert.True(cv.WorstTimeError < 0.20, $"worst leave-one-out time error {cv.WorstTimeError:P1}");
        Assert.True(cv.WorstEnergyError < 0.20, $"worst leave-one-out energy error {cv.WorstEnergyError:P1}");
    }

    private static CalibrationPoint ToCalibrationPoint(ProfilePoint p) => new(
        p.Phase switch { ProfilePhase.Prefill => Phase.Prefill, ProfilePhase.Decode => Phase.Decode, ProfilePhase.Mixed => Phase.Mixed, _ => Phase.Idle },
        p.BatchSize, p.NewTokens, p.ContextTokens, p.DecodeSequences, p.DecodeContext);
}
