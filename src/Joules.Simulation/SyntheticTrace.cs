using Joules.Traces;

namespace Joules.Simulation;

/// <summary>
/// A seeded synthetic request stream for benchmarks and tests: Poisson arrivals, log-normal prompt and
/// output lengths (shapes roughly like conversational traffic). Generated lazily, so a
/// 30-million-request week costs no memory.
/// </summary>
public static class SyntheticTrace
{
    /// <param name="seed">Random seed; the same seed gives the same stream.</param>
    /// <param name="count">Number of requests.</param>
    /// <param name="ratePerSecond">Mean arrival rate.</param>
    /// <param name="medianInput">Median prompt length.</param>
    /// <param name="medianOutput">Median output length.</param>
    /// <param name="maxInput">Prompt lengths are clipped to this.</param>
    /// <param name="maxOutput">Output lengths are clipped to this.</param>
    /// <param name="startMicros">Arrival time of the stream's origin (µs since the epoch).</param>
    public static IEnumerable<TraceRequest> Poisson(int seed, long count, double ratePerSecond,
        int medianInput = 1000, int medianOutput = 200, int maxInput = 8192, int maxOutput = 2048, long startMicros = 1_700_000_000_000_000)
    {
        if (ratePerSecond <= 0) throw new ArgumentOutOfRangeException(nameof(ratePerSecond), "arrival rate must be positive");
        var rng = new Random(seed);
        var t = (double)startMicros;
        for (long i = 0; i < count; i++)
        {
            t += -Math.Log(1.0 - rng.NextDouble()) / ratePerSecond * 1e6;
            var input = (int)Math.Clamp(Math.Round(medianInput * Math.Exp(0.9 * Normal(rng))), 1, maxInput);
            var output = (int)Math.Clamp(Math.Round(medianOutput * Math.Exp(0.8 * Normal(rng))), 1, maxOutput);
            yield return new TraceRequest(i, (long)t, input, output);
        }
    }

    private static double Normal(Random rng)
    {
        var u1 = 1.0 - rng.NextDouble();
        var u2 = rng.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }
}
