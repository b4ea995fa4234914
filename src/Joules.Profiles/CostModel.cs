namespace Joules.Profiles;

/// <summary>Aggregate shape of one engine iteration: what a cost model needs to price it, kept as sums so the simulator never allocates per iteration.</summary>
/// <param name="PrefillSequences">Sequences contributing a prefill chunk this iteration.</param>
/// <param name="PrefillTokens">New tokens across all prefill chunks.</param>
/// <param name="PrefillContextTokens">Tokens already in the KV cache before each chunk, summed (non-zero for chunked prefill).</param>
/// <param name="PrefillAttentionPairs">Query-key pairs the causal prefill attention computes: for each chunk, new * context_before + new * (new + 1) / 2.</param>
/// <param name="DecodeSequences">Sequences decoding one token each.</param>
/// <param name="DecodeContextTokens">Context length (tokens in KV cache, the new one included) summed over decode sequences.</param>
public readonly record struct IterationShape(
    int PrefillSequences,
    long PrefillTokens,
    long PrefillContextTokens,
    double PrefillAttentionPairs,
    int DecodeSequences,
    long DecodeContextTokens)
{
    /// <summary>Tokens whose hidden states pass through the GEMMs this iteration.</summary>
    public long TotalTokens => PrefillTokens + DecodeSequences;

    public int TotalSequences => PrefillSequences + DecodeSequences;

    public bool IsEmpty => TotalTokens == 0;

    /// <summary>This shape with one more prefill chunk of <paramref name="newTokens"/> on top of <paramref name="contextBefore"/> cached tokens.</summary>
    public IterationShape AddPrefill(long newTokens, long contextBefore) => this with
    {
        PrefillSequences = PrefillSequences + 1,
        PrefillTokens = PrefillTokens + newTokens,
        PrefillContextTokens = PrefillContextTokens + contextBefore,
        PrefillAttentionPairs = PrefillAttentionPairs + newTokens * (double)contextBefore + newTokens * (newTokens + 1.0) / 2.0,
    };

    /// <summary>This shape with one more decoding sequence whose context (new token included) is <paramref name="context"/>.</summary>
    public IterationShape AddDecode(long context) => this with
    {
        DecodeSequences = DecodeSequences + 1,
        DecodeContextTokens = DecodeContextTokens + context,
    };

    /// <summary>A pure prefill iteration: <paramref name="batch"/> sequences of <paramref name="newTokens"/> each, empty cache.</summary>
    public static IterationShape Prefill(int batch, long newTokens, long contextBefore = 0)
    {
        var s = default(IterationShape);
        for (var i = 0; i < batch; i++) s = s.AddPrefill(newTokens, contextBefore);
        return s;
    }

    /// <summary>A pure decode iteration: <paramref name="batch"/> sequences each with <paramref name="context"/> tokens of context.</summary>
    public static IterationShape Decode(int batch, long context) =>
        new(0, 0, 0, 0, batch, (long)batch * context);
}

/// <summary>How a cost model priced an estimate, from the most to the least trustworthy measured basis; an analytic model (the roofline) is <see cref="Model"/>.</summary>
/// <remarks>Ordered so that the worse of two classes is the larger (see <see cref="PricingClasses.Worse"/>); <see cref="Model"/> is 0 so a default cost is "model".</remarks>
public enum PricingClass : byte
{
    /// <summary>An analytic model with no measured points (the datasheet roofline).</summary>
    Model = 0,
    /// <summary>Exactly a measured point.</summary>
    Exact = 1,
    /// <summary>Interpolated between measured points of a grid whose surrounding corners were all measured.</summary>
    Interpolated = 2,
    /// <summary>The physical fit (or a grid cell with an unmeasured corner), inside the range of measured shapes.</summary>
    Fitted = 3,
    /// <summary>Beyond the measured range: more tokens, sequences or context than any measured point of that kind.</summary>
    Extrapolated = 4,
}

/// <summary>Helpers for <see cref="PricingClass"/>.</summary>
public static class PricingClasses
{
    /// <summary>The less trustworthy of two classes (for a run of iterations: the worst over the run).</summary>
    public static PricingClass Worse(PricingClass a, PricingClass b) => a >= b ? a : b;

    /// <summary>Lower-case name as reports print it: "model", "exact", "interpolated", "fitted", "extrapolated".</summary>
    public static string Label(this PricingClass c) => c switch
    {
        PricingClass.Exact => "exact",
        PricingClass.Interpolated => "interpolated",
        PricingClass.Fitted => "fitted",
        PricingClass.Extrapolated => "extrapolated",
        _ => "model",
    };
}

/// <summary>Time and energy of one iteration (or a run of them) on one instance: all of its tensor-parallel GPUs together, communication included.</summary>
/// <param name="Seconds">Duration, tensor-parallel communication included.</param>
/// <param name="Joules">Energy of all the instance's GPUs, communication included.</param>
public readonly record struct IterationCost(double Seconds, double Joules)
{
    /// <summary>Part of <see cref="Seconds"/> spent in tensor-parallel all-reduce (0 for tp = 1).</summary>
    public double CommSeconds { get; init; }

    /// <summary>Part of <see cref="Joules"/> charged to tensor-parallel all-reduce (0 for tp = 1).</summary>
    public double CommJoules { get; init; }

    /// <summary>How the estimate was priced (for a run: the worst class over its iterations).</summary>
    public PricingClass Pricing { get; init; }

    public double MeanWatts => Seconds > 0 ? Joules / Seconds : 0;
}

/// <summary>Prices engine iterations for one (GPU, model, tensor-parallel degree) deployment; the only thing the simulator needs from hardware.</summary>
public interface ICostModel
{
    /// <summary>Short name shown in reports, e.g. "roofline" or "profile:h100/llama-3.1-8b".</summary>
    string Name { get; }

    GpuSpec Gpu { get; }

    ModelCard Model { get; }

    /// <summary>Tensor-parallel degree: GPUs per instance.</summary>
    int TensorParallel { get; }

    /// <summary>Power of the whole instance (all its GPUs) while it has no work, in watts.</summary>
    double IdleWatts { get; }

    /// <summary>Duration and whole-instance energy of an iteration of the given shape. Must be positive for a non-empty shape.</summary>
    IterationCost Estimate(in IterationShape shape);
}

/// <summary>One sequence's work in an iteration: <see cref="NewTokens"/> tokens on top of <see cref="ContextBefore"/> cached ones (a decode step is 1 new token).</summary>
public readonly record struct SequenceWork(int NewTokens, int ContextBefore)
{
    public bool IsDecode => NewTokens == 1 && ContextBefore > 0;
}

/// <summary>The explicit batch of one iteration, sequence by sequence: what a GPU engine executes and a cost model prices.</summary>
public sealed record IterationComposition(IReadOnlyList<SequenceWork> Sequences)
{
    /// <summary>The aggregate shape; decode steps (1 new token over a non-empty cache) count as decodes, everything else as prefill chunks.</summary>
    public IterationShape Shape
    {
        get
        {
            var s = default(IterationShape);
            foreach (var w in Sequences)
                s = w.IsDecode ? s.AddDecode(w.ContextBefore + 1) : s.AddPrefill(w.NewTokens, w.ContextBefore);
            return s;
        }
    }

    public static IterationComposition Prefill(int batch, int newTokens, int contextBefore = 0) =>
        new(Enumerable.Repeat(new SequenceWork(newTokens, contextBefore), batch).ToArray());

    /// <summary>A decode batch where each sequence already holds <paramref name="contextBefore"/> tokens.</summary>
    public static IterationComposition Decode(int batch, int contextBefore) =>
        new(Enumerable.Repeat(new SequenceWork(1, contextBefore), batch).ToArray());
}
