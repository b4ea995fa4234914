using MathNet.Numerics.Distributions;

namespace Joules.Traces.Synthesis;

/// <summary>Draws (input, output) token lengths for synthetic requests.</summary>
public abstract class LengthModel
{
    public abstract void Sample(Random rng, out int input, out int output);

    /// <summary>One line describing the model, for READMEs and progress output.</summary>
    public abstract string Describe();
}

/// <summary>Resamples (input, output) pairs of a real trace uniformly with replacement, keeping their joint distribution (and so their correlation) exactly.</summary>
public sealed class ResampledLengths : LengthModel
{
    private readonly int[] _input;
    private readonly int[] _output;

    public ResampledLengths(int[] input, int[] output)
    {
        if (input.Length == 0 || input.Length != output.Length) throw new ArgumentException("need at least one (input, output) pair, as many inputs as outputs");
        _input = input;
        _output = output;
    }

    public static ResampledLengths From(IReadOnlyList<TraceRequest> trace) =>
        new(trace.Select(r => r.InputTokens).ToArray(), trace.Select(r => r.OutputTokens).ToArray());

    public int Count => _input.Length;

    public override void Sample(Random rng, out int input, out int output)
    {
        var i = rng.Next(_input.Length);
        input = _input[i];
        output = _output[i];
    }

    public override string Describe() => $"resampled (input, output) pairs of {_input.Length:N0} requests";
}

/// <summary>Independent log-normal input and output lengths (maximum-likelihood fit on log lengths), rounded and clamped to [1, max].</summary>
public sealed class LogNormalLengths : LengthModel
{
    public LogNormalLengths(double inputMu, double inputSigma, double outputMu, double outputSigma, int maxInput = 1 << 20, int maxOutput = 1 << 20)
    {
        InputMu = inputMu; InputSigma = inputSigma; OutputMu = outputMu; OutputSigma = outputSigma; MaxInput = maxInput; MaxOutput = maxOutput;
    }

    public double InputMu { get; }
    public double InputSigma { get; }
    public double OutputMu { get; }
    public double OutputSigma { get; }
    public int MaxInput { get; }
    public int MaxOutput { get; }

    /// <summary>Log-normal with the given mean and coefficient of variation (sd/mean).</summary>
    public static (double Mu, double Sigma) FromMeanCv(double mean, double cv)
    {
        if (!(mean > 0) || !(cv >= 0)) throw new ArgumentException("length mean must be positive and CV non-negative");
        var s2 = Math.Log(1 + cv * cv);
        return (Math.Log(mean) - s2 / 2, Math.Sqrt(s2));
    }

    /// <summary>Fits both columns of a trace (zero lengths count as 1, the log of 0 being undefined); the trace's maxima become the clamps.</summary>
    public static LogNormalLengths Fit(IReadOnlyList<TraceRequest> trace)
    {
        var i = LogNormal.Estimate(trace.Select(r => (double)Math.Max(1, r.InputTokens)));
        var o = LogNormal.Estimate(trace.Select(r => (double)Math.Max(1, r.OutputTokens)));
        return new LogNormalLengths(i.Mu, i.Sigma, o.Mu, o.Sigma, trace.Max(r => r.InputTokens), trace.Max(r => r.OutputTokens));
    }

    public override void Sample(Random rng, out int input, out int output)
    {
        input = Draw(rng, InputMu, InputSigma, MaxInput);
        output = Draw(rng, OutputMu, OutputSigma, MaxOutput);
    }

    private static int Draw(Random rng, double mu, double sigma, int max)
    {
        var x = Math.Exp(mu + sigma * Normal.Sample(rng, 0, 1));
        return x >= max ? max : Math.Max(1, (int)Math.Round(x));
    }

    public override string Describe() =>
        FormattableString.Invariant($"log-normal input (mu {InputMu:F3}, sigma {InputSigma:F3}, max {MaxInput}), output (mu {OutputMu:F3}, sigma {OutputSigma:F3}, max {MaxOutput})");
}
