using Joules.Profiles;
using Joules.Profiles.Measured;

namespace Joules.Profiles.Tests;

/// <summary>Synthetic profiles generated from known laws, for testing the cost model against ground truth.</summary>
public static class ProfileTestData
{
    public static readonly int[] PrefillBatches = [1, 2, 4, 8];
    public static readonly int[] PrefillTokens = [128, 256, 512, 1024, 2048, 4096];
    public static readonly int[] DecodeBatches = [1, 8, 32, 64, 128, 256];
    public static readonly int[] DecodeContexts = [256, 1024, 4096];

    public static ProfileMetadata Metadata(int tp = 1) => new()
    {
        GpuName = "NVIDIA H100 80GB HBM3",
        GpuUuid = "GPU-00000000-1111-2222-3333-444444444444",
        DriverVersion = "570.86.15",
        CudaVersion = "12.8",
        PowerLimitWatts = 700,
        Model = Catalog.Model("llama-3.1-8b"),
        TensorParallel = tp,
        Grid = "{\"kind\":\"test\"}",
        ToolVersion = "0.1.0",
        CreatedUtc = new DateTimeOffset(2026, 11, 22, 4, 0, 0, TimeSpan.Zero),
        IdlePowerWatts = 70,
    };

    /// <summary>A roofline-like smooth law: memory-bound floor blending into compute, plus attention and KV reads.</summary>
    public static (double Seconds, double Joules) Smooth(IterationShape s)
    {
        const double weightRead = 0.0050, perToken = 2.3e-5, perPair = 1.5e-10, perKv = 4.0e-8, perSeq = 2e-6;
        var gemm = Math.Sqrt(weightRead * weightRead + Math.Pow(perToken * s.TotalTokens, 2));
        // A 2% wobble in log tokens stands in for GEMM tile quantisation, which no smooth model captures.
        var wobble = 1 + 0.02 * Math.Sin(2.3 * Math.Log2(s.TotalTokens));
        var t = gemm * wobble + perPair * s.PrefillAttentionPairs + perKv * (s.DecodeContextTokens + s.PrefillContextTokens) + perSeq * s.TotalSequences;
        // Static power for the duration plus energy per unit of work: ~430 W memory bound, ~650 W compute bound.
        var e = 430 * t + 0.005 * s.TotalTokens + 3e-8 * s.PrefillAttentionPairs + 5e-6 * (s.DecodeContextTokens + s.PrefillContextTokens);
        return (t, e);
    }

    /// <summary>A law linear in the cost model's features: the fit must reproduce it exactly.</summary>
    public static (double Seconds, double Joules) Linear(IterationShape s)
    {
        var t = 0.004 + 2e-5 * s.TotalTokens + 1e-6 * s.TotalSequences + 1e-10 * s.PrefillAttentionPairs + 3e-8 * s.DecodeContextTokens + 2e-8 * s.PrefillContextTokens;
        var e = 400 * t + 0.012 * s.TotalTokens + 5e-4 * s.TotalSequences + 6e-8 * s.PrefillAttentionPairs + 1.2e-5 * s.DecodeContextTokens + 1e-5 * s.PrefillContextTokens;
        return (t, e);
    }

    public static IEnumerable<ProfilePoint> GridShapes()
    {
        foreach (var b in PrefillBatches)
        foreach (var n in PrefillTokens)
            if (b * n <= 16384) yield return Point(ProfilePhase.Prefill, b, n, 0);
        foreach (var b in DecodeBatches)
        foreach (var c in DecodeContexts)
            yield return Point(ProfilePhase.Decode, b, 1, c);
        yield return Point(ProfilePhase.Mixed, 1, 512, 0, 32, 1024);
        yield return Point(ProfilePhase.Mixed, 1, 512, 2048, 32, 1024);
        yield return Point(ProfilePhase.Mixed, 1, 2048, 0, 64, 1024);
        yield return Point(ProfilePhase.Mixed, 1, 256, 0, 128, 2048);
        yield return Point(ProfilePhase.Mixed, 2, 1024, 0, 16, 4096);
        yield return Point(ProfilePhase.Mixed, 1, 1024, 4096, 8, 512);
    }

    private static ProfilePoint Point(ProfilePhase phase, int b, int n, int ctx, int dec = 0, int decCtx = 0) => new()
    {
        Phase = phase, BatchSize = b, NewTokens = n, ContextTokens = ctx, DecodeSequences = dec, DecodeContext = decCtx,
        IterationSeconds = 0, EnergyJoules = 0,
    };

    /// <summary>The grid measured under <paramref name="law"/> with multiplicative noise of relative size <paramref name="noise"/>.</summary>
    public static MeasuredProfile Make(Func<IterationShape, (double Seconds, double Joules)> law, double noise = 0, int seed = 1, int tp = 1, IEnumerable<ProfilePoint>? shapes = null)
    {
        var rng = new Random(seed);
        double Noise() => 1 + noise * (2 * rng.NextDouble() - 1);
        var points = new List<ProfilePoint>();
        foreach (var p in shapes ?? GridShapes())
        {
            var (t, e) = law(p.Shape);
            t *= Noise();
            e *= Noise();
            points.Add(p with { IterationSeconds = t, EnergyJoules = e, MeanPowerWatts = e / t, TpDegree = tp, Repeats = 5, CvTime = 0.005, CvEnergy = 0.008, SmClockMHz = 1980, TemperatureC = 55 });
        }
        points.Add(new ProfilePoint { Phase = ProfilePhase.Idle, IterationSeconds = 5, EnergyJoules = 350, MeanPowerWatts = 70, TpDegree = tp, Repeats = 3 });
        return new MeasuredProfile(Metadata(tp), points);
    }
}
