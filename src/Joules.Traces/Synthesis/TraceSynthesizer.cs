using MathNet.Numerics.Distributions;
using MathNet.Numerics.Random;

namespace Joules.Traces.Synthesis;

/// <summary>Inter-arrival processes the synthesiser offers.</summary>
public enum ArrivalProcess
{
    /// <summary>Exponential gaps: memoryless, CV 1.</summary>
    Poisson,
    /// <summary>Gamma gaps with a chosen coefficient of variation: CV &gt; 1 is burstier than Poisson, &lt; 1 more regular.</summary>
    Gamma,
}

/// <summary>Settings of a synthetic trace; stop after <see cref="Requests"/> requests or <see cref="DurationSeconds"/>, whichever is given (requests win when both are).</summary>
public sealed record SynthesisOptions
{
    public long? Requests { get; init; }
    public double? DurationSeconds { get; init; }
    /// <summary>Mean arrival rate, requests per second (the daily mean when diurnal).</summary>
    public double Rate { get; init; } = 1;
    public ArrivalProcess Arrival { get; init; } = ArrivalProcess.Poisson;
    /// <summary>Coefficient of variation of gamma gaps.</summary>
    public double Cv { get; init; } = 1;
    /// <summary>Relative amplitude A of the daily rate curve rate·(1 + A·cos(2π(h − peak)/24)); 0 is flat, must be &lt; 1.</summary>
    public double DiurnalAmplitude { get; init; }
    /// <summary>Hour of the day (UTC) when the diurnal rate peaks.</summary>
    public double DiurnalPeakHour { get; init; } = 14;
    public long StartMicros { get; init; }
    public int Seed { get; init; } = 1;
    /// <summary>Model name stamped on every request, if any.</summary>
    public string? Model { get; init; }

    public void Validate()
    {
        if (Requests is null && DurationSeconds is null) throw new ArgumentException("give the number of requests or the duration");
        if (Requests is < 0) throw new ArgumentException("requests must not be negative");
        if (DurationSeconds is { } d && !(d >= 0)) throw new ArgumentException("duration must not be negative");
        if (!(Rate > 0) || !double.IsFinite(Rate)) throw new ArgumentException("rate must be a positive number of requests per second");
        if (Arrival == ArrivalProcess.Gamma && !(Cv > 0)) throw new ArgumentException("gamma arrivals need a positive --cv");
        if (DiurnalAmplitude is < 0 or >= 1) throw new ArgumentException("diurnal amplitude must be in [0, 1)");
    }
}

/// <summary>Generates a synthetic trace as a stream, in fixed-size batches, reproducibly for a seed: the same options give the same requests.</summary>
/// <remarks>
/// Arrivals come from a unit-rate renewal process (exponential or gamma gaps of mean 1) mapped onto real time by the
/// rate curve: each unit gap g advances time by g / rate(t). With a flat curve this is exact; with the diurnal curve it
/// is the time-rescaling construction evaluated gap by gap, accurate because gaps are far shorter than a day.
/// </remarks>
public sealed class TraceSynthesizer
{
    private readonly SynthesisOptions _o;
    private readonly LengthModel _lengths;
    private readonly Random _rng;
    private readonly double _shape;
    private readonly long _endMicros;
    private double _seconds; // from start, kept in double so rounding to µs never accumulates
    private long _produced;
    private bool _done;

    public TraceSynthesizer(SynthesisOptions options, LengthModel lengths)
    {
        options.Validate();
        _o = options;
        _lengths = lengths;
        _rng = new Xoshiro256StarStar(options.Seed, threadSafe: false);
        _shape = options.Arrival == ArrivalProcess.Gamma ? 1 / (options.Cv * options.Cv) : 1;
        _endMicros = options.DurationSeconds is { } d ? options.StartMicros + (long)Math.Round(d * 1e6) : long.MaxValue;
    }

    public long Produced => _produced;

    /// <summary>Requests the run will produce when it is bounded by count, else null (duration-bounded runs end when time runs out).</summary>
    public long? ExpectedCount => _o.Requests;

    /// <summary>Fills <paramref name="batch"/> with the next requests; returns how many (0 when the trace is complete).</summary>
    public int Fill(Span<TraceRequest> batch)
    {
        var n = 0;
        if (_done) return 0;
        var limit = _o.Requests ?? long.MaxValue;
        var diurnal = _o.DiurnalAmplitude > 0;
        var startHour = (_o.StartMicros / 3.6e9) % 24;
        while (n < batch.Length && _produced < limit)
        {
            var unitGap = _o.Arrival == ArrivalProcess.Poisson
                ? -Math.Log(1 - _rng.NextDouble())
                : Gamma.Sample(_rng, _shape, _shape);
            var rate = _o.Rate;
            if (diurnal)
            {
                var hour = startHour + _seconds / 3600;
                rate *= 1 + _o.DiurnalAmplitude * Math.Cos(2 * Math.PI * (hour - _o.DiurnalPeakHour) / 24);
            }
            _seconds += unitGap / rate;
            var arrival = _o.StartMicros + (long)Math.Round(_seconds * 1e6);
            if (arrival >= _endMicros) { _done = true; break; }
            _lengths.Sample(_rng, out var input, out var output);
            batch[n++] = new TraceRequest(_produced, arrival, input, output, _o.Model);
            _produced++;
        }
        if (_produced >= limit) _done = true;
        return n;
    }

    /// <summary>The whole trace as a stream (batches of 8192 under the hood).</summary>
    public IEnumerable<TraceRequest> Generate()
    {
        var buffer = new TraceRequest[8192];
        while (true)
        {
            var n = Fill(buffer);
            if (n == 0) yield break;
            for (var i = 0; i < n; i++) yield return buffer[i];
        }
    }
}
