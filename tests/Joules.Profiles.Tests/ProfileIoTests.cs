using FsCheck;
using FsCheck.Fluent;
using Joules.Profiles.Measured;
using Xunit;

namespace Joules.Profiles.Tests;

public class ProfileIoTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("joules-profile-io-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static ProfilePoint RandomPoint(Random r)
    {
        double D() => r.Next(4) switch
        {
            0 => r.NextDouble() * 1e-3,
            1 => r.NextDouble() * 1e3,
            2 => Math.Pow(10, r.Next(-300, 300)) * r.NextDouble(),
            _ => r.NextDouble(),
        };
        return new ProfilePoint
        {
            Phase = (ProfilePhase)r.Next(4),
            BatchSize = r.Next(0, 1024),
            NewTokens = r.Next(0, 1 << 16),
            ContextTokens = r.Next(0, 1 << 20),
            DecodeSequences = r.Next(0, 512),
            DecodeContext = r.Next(0, 1 << 20),
            TpDegree = 1 << r.Next(4),
            SmClockTarget = r.Next(2) == 0 ? null : r.Next(200, 2100),
            IterationSeconds = D(),
            EnergyJoules = D(),
            MeanPowerWatts = D(),
            SmClockMHz = D(),
            TemperatureC = D(),
            ThrottleReasons = r.NextInt64(),
            Repeats = r.Next(1, 10),
            CvTime = D(),
            CvEnergy = D(),
        };
    }

    [Fact]
    public void WriteThenReadReturnsTheSameProfile()
    {
        var i = 0;
        Prop.ForAll(Arb.From(Gen.Choose(0, int.MaxValue)), seed =>
        {
            var r = new Random(seed);
            var points = Enumerable.Range(0, r.Next(0, 30)).Select(_ => RandomPoint(r)).ToArray();
            var meta = ProfileTestData.Metadata(1 << r.Next(4)) with
            {
                GpuName = $"GPU \"{seed}\" ünïcode",
                PowerLimitWatts = r.NextDouble() * 1000,
                IdlePowerWatts = r.NextDouble() * 100,
                Command = "joules calibrate --model llama-3.1-8b --quick",
                Extra = new Dictionary<string, string> { ["future.key"] = seed.ToString() },
            };
            var ok = true;
            foreach (var ext in new[] { ".parquet", ".json" })
            {
                var path = Path.Combine(_dir, $"p{i++}{ext}");
                new MeasuredProfile(meta, points).Save(path);
                var back = MeasuredProfile.Load(path);
                ok &= back.Metadata.SameAs(meta) && back.Points.SequenceEqual(points);
            }
            return ok;
        }).QuickCheckThrowOnFailure();
    }

    [Theory]
    [InlineData(".json")]
    [InlineData(".parquet")]
    public void NonFiniteMeasurementsSurviveAsNaN(string ext)
    {
        var p = new ProfilePoint { Phase = ProfilePhase.Decode, BatchSize = 1, NewTokens = 1, ContextTokens = 8, IterationSeconds = 0.01, EnergyJoules = 1, CvTime = double.NaN };
        var path = Path.Combine(_dir, "nan" + ext);
        new MeasuredProfile(ProfileTestData.Metadata(), [p]).Save(path);
        Assert.True(double.IsNaN(MeasuredProfile.Load(path).Points[0].CvTime));
    }

    [Fact]
    public void ParquetProfilesCarryTheMetadataAsKeyValues()
    {
        var path = Path.Combine(_dir, "profile.parquet");
        ProfileTestData.Make(ProfileTestData.Smooth).Save(path);
        using var reader = Joules.Parquet.ParquetFileReader.Open(path);
        Assert.Equal("NVIDIA H100 80GB HBM3", reader.Metadata["gpu.name"]);
        Assert.Equal("llama-3.1-8b", reader.Metadata["model.name"]);
        Assert.Contains("\"layers\":32", reader.Metadata["model.card"]);
        Assert.Equal("70", reader.Metadata["idle_power_w"]);
        Assert.Equal(ProfileTestData.GridShapes().Count() + 1, reader.RowCount);
        Assert.Contains(reader.Schema, c => c.Name == "sm_clock_target" && c.IsOptional);
    }

    [Fact]
    public void AParquetFileThatIsNotAProfileIsAClearError()
    {
        var path = Path.Combine(_dir, "trace.parquet");
        using (var w = new Joules.Parquet.ParquetFileWriter(path, new Joules.Parquet.ParquetSchema([Joules.Parquet.ParquetColumn.Int64("request_id")])))
            w.WriteRowGroup(Joules.Parquet.ColumnData.From(new long[] { 1, 2 }));
        var e = Assert.Throws<InvalidDataException>(() => MeasuredProfile.Load(path));
        Assert.Contains("not a joules profile", e.Message);
    }

    [Fact]
    public void BadPhaseIsAnErrorNamingFileRowAndColumn()
    {
        var path = Path.Combine(_dir, "bad.json");
        ProfileTestData.Make(ProfileTestData.Linear).Save(path);
        File.WriteAllText(path, File.ReadAllText(path).Replace("\"decode\"", "\"decoed\""));
        var e = Assert.Throws<InvalidDataException>(() => MeasuredProfile.Load(path));
        Assert.Contains("bad.json", e.Message);
        Assert.Contains("row ", e.Message);
        Assert.Contains("phase", e.Message);
    }

    [Fact]
    public void NotAProfileIsAClearError()
    {
        var path = Path.Combine(_dir, "other.json");
        File.WriteAllText(path, "{\"hello\": 1}");
        var e = Assert.Throws<InvalidDataException>(() => MeasuredProfile.Load(path));
        Assert.Contains("not a joules profile", e.Message);
    }

    [Fact]
    public void NewerFormatVersionIsRefused()
    {
        var kv = new Dictionary<string, string>(ProfileTestData.Metadata().ToKeyValues()) { ["joules.format_version"] = "99" };
        var e = Assert.Throws<InvalidDataException>(() => ProfileMetadata.FromKeyValues(kv, "x.parquet"));
        Assert.Contains("newer", e.Message);
    }

    [Fact]
    public void ThrottleReasonsAreNamed()
    {
        Assert.Equal("none", ThrottleReasonBits.Describe(0));
        Assert.Equal("sw_power_cap|hw_thermal", ThrottleReasonBits.Describe(ThrottleReasonBits.SwPowerCap | ThrottleReasonBits.HwThermalSlowdown));
        Assert.True(new ProfilePoint { Phase = ProfilePhase.Decode, IterationSeconds = 1, EnergyJoules = 1, ThrottleReasons = ThrottleReasonBits.SwPowerCap }.Throttled);
        Assert.False(new ProfilePoint { Phase = ProfilePhase.Decode, IterationSeconds = 1, EnergyJoules = 1, ThrottleReasons = ThrottleReasonBits.GpuIdle }.Throttled);
    }
}
