using System.Diagnostics;

namespace Joules.Profiles;

/// <summary>How long a cost model takes per estimate, as a ratio against a reference model timed in the same run on the same shapes (the simulator prices every iteration, so this is its inner loop).</summary>
public static class CostModelBenchmark
{
    /// <summary>Result of <see cref="Measure"/>: best-of-rounds nanoseconds per estimate for the model and the reference.</summary>
    public sealed record Result(double Nanoseconds, double ReferenceNanoseconds)
    {
        /// <summary>Model time over reference time.</summary>
        public double Ratio => Nanoseconds / ReferenceNanoseconds;
    }

    /// <summary>A fixed, seeded mix of what a continuous-batching engine prices: a third pure decode batches, a third decodes with a prefill chunk (some over cached context), a third pure prefills.</summary>
    public static IterationShape[] Shapes(int count = 4096, int seed = 42)
    {
        var shapes = new IterationShape[count];
        var r = new Random(seed);
        for (var i = 0; i < shapes.Length; i++)
        {
            var batch = 1 + r.Next(256);
            var context = 1 + r.Next(8192);
            shapes[i] = r.Next(3) switch
            {
                0 => IterationShape.Decode(batch, context),
                1 => IterationShape.Decode(batch, context).AddPrefill(1 + r.Next(2048), r.Next(4096)),
                _ => IterationShape.Prefill(1 + r.Next(8), 1 + r.Next(4096)),
            };
        }
        return shapes;
    }

    /// <summary>Times <paramref name="model"/> and <paramref name="reference"/> over <paramref name="shapes"/>, alternating rounds so both see the same machine load, and keeps each one's fastest round.</summary>
    public static Result Measure(ICostModel model, ICostModel reference, IReadOnlyList<IterationShape> shapes, int rounds = 21, int passes = 40)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(reference);
        if (shapes.Count == 0) throw new ArgumentException("the benchmark needs at least one shape", nameof(shapes));
        var array = shapes.ToArray();
        double best = double.MaxValue, bestReference = double.MaxValue, sink = 0;
        for (var round = 0; round < rounds; round++)
        {
            best = Math.Min(best, Round(model, array, passes, ref sink));
            bestReference = Math.Min(bestReference, Round(reference, array, passes, ref sink));
        }
        // Keeps the estimates observable so the loop cannot be optimised away.
        GC.KeepAlive(sink);
        return new Result(best, bestReference);
    }

    private static double Round(ICostModel model, IterationShape[] shapes, int passes, ref double sink)
    {
        var watch = Stopwatch.StartNew();
        for (var p = 0; p < passes; p++)
            foreach (ref readonly var s in shapes.AsSpan()) sink += model.Estimate(s).Seconds;
        return watch.Elapsed.TotalNanoseconds / ((double)passes * shapes.Length);
    }
}
