using System.Text;
using System.Text.Json;

namespace Joules.Traces.Stats;

/// <summary>One cell of the input × output token histogram.</summary>
public sealed record TokenBin(int InputLo, int? InputHi, int OutputLo, int? OutputHi, long Count, double Share, double MeanInput, double MeanOutput);

/// <summary>Summary of one token-length column.</summary>
public sealed record TokenSummary(long Sum, double Mean, int P50, int P90, int P99, int Max)
{
    internal static TokenSummary From(TokenHistogram h) =>
        h.Count == 0 ? new(0, 0, 0, 0, 0, 0) : new(h.Sum, h.Mean, h.Percentile(50), h.Percentile(90), h.Percentile(99), h.Max);
}

/// <summary>What a trace looks like: size, span, rates, token distributions and the input × output histogram energy studies weight by.</summary>
public sealed record TraceStats(
    long Requests,
    long FirstArrivalMicros,
    long LastArrivalMicros,
    double DurationSeconds,
    double MeanRps,
    double PeakPerMinuteRps,
    double? InterarrivalCv,
    TokenSummary InputTokens,
    TokenSummary OutputTokens,
    IReadOnlyList<TokenBin> Bins)
{
    public string ToJson(bool indented = true)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = indented }))
        {
            w.WriteStartObject();
            w.WriteNumber("requests", Requests);
            w.WriteNumber("duration_s", DurationSeconds);
            if (Requests > 0)
            {
                w.WriteString("first_arrival", Import.TimeText.Format(FirstArrivalMicros));
                w.WriteString("last_arrival", Import.TimeText.Format(LastArrivalMicros));
            }
            Tokens(w, "input_tokens", InputTokens);
            Tokens(w, "output_tokens", OutputTokens);
            w.WriteStartObject("rate");
            w.WriteNumber("mean_rps", MeanRps);
            w.WriteNumber("peak_per_minute_rps", PeakPerMinuteRps);
            if (InterarrivalCv is { } cv && double.IsFinite(cv)) w.WriteNumber("interarrival_cv", cv); else w.WriteNull("interarrival_cv");
            w.WriteEndObject();
            w.WriteStartArray("bins");
            foreach (var b in Bins)
            {
                w.WriteStartObject();
                w.WriteNumber("input_lo", b.InputLo);
                if (b.InputHi is { } ih) w.WriteNumber("input_hi", ih); else w.WriteNull("input_hi");
                w.WriteNumber("output_lo", b.OutputLo);
                if (b.OutputHi is { } oh) w.WriteNumber("output_hi", oh); else w.WriteNull("output_hi");
                w.WriteNumber("count", b.Count);
                w.WriteNumber("share", Math.Round(b.Share, 6));
                w.WriteNumber("mean_input", Math.Round(b.MeanInput, 3));
                w.WriteNumber("mean_output", Math.Round(b.MeanOutput, 3));
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    private static void Tokens(Utf8JsonWriter w, string name, TokenSummary t)
    {
        w.WriteStartObject(name);
        w.WriteNumber("sum", t.Sum);
        w.WriteNumber("mean", Math.Round(t.Mean, 6));
        w.WriteNumber("p50", t.P50);
        w.WriteNumber("p90", t.P90);
        w.WriteNumber("p99", t.P99);
        w.WriteNumber("max", t.Max);
        w.WriteEndObject();
    }
}

/// <summary>Computes <see cref="TraceStats"/> in one streaming pass with bounded memory; arrival order only matters for the inter-arrival CV.</summary>
public sealed class TraceStatistics
{
    private readonly BinEdges _inEdges;
    private readonly BinEdges _outEdges;
    private readonly long[] _binCount;
    private readonly long[] _binIn;
    private readonly long[] _binOut;
    private readonly TokenHistogram _input = new();
    private readonly TokenHistogram _output = new();
    private readonly Dictionary<long, long> _perMinute = new();
    private long _count, _first = long.MaxValue, _last = long.MinValue, _prev = long.MinValue;
    private bool _sorted = true;
    // Welford's running mean and variance of inter-arrival gaps (seconds).
    private long _gaps;
    private double _gapMean, _gapM2;

    public TraceStatistics(BinEdges? inputEdges = null, BinEdges? outputEdges = null)
    {
        _inEdges = inputEdges ?? BinEdges.PowersOfTwo;
        _outEdges = outputEdges ?? BinEdges.PowersOfTwo;
        var n = _inEdges.Count * _outEdges.Count;
        _binCount = new long[n];
        _binIn = new long[n];
        _binOut = new long[n];
    }

    public static TraceStats Compute(IEnumerable<TraceRequest> requests, BinEdges? inputEdges = null, BinEdges? outputEdges = null)
    {
        var s = new TraceStatistics(inputEdges, outputEdges);
        foreach (var r in requests) s.Add(r);
        return s.Result();
    }

    public void Add(in TraceRequest r)
    {
        _count++;
        var t = r.ArrivalMicros;
        if (t < _first) _first = t;
        if (t > _last) _last = t;
        if (_prev != long.MinValue)
        {
            if (t < _prev) _sorted = false;
            var gap = (t - _prev) / 1e6;
            _gaps++;
            var d = gap - _gapMean;
            _gapMean += d / _gaps;
            _gapM2 += d * (gap - _gapMean);
        }
        _prev = t;
        var minute = Math.DivRem(t, 60_000_000L, out var rem) - (rem < 0 ? 1 : 0);
        _perMinute[minute] = _perMinute.GetValueOrDefault(minute) + 1;
        _input.Add(r.InputTokens);
        _output.Add(r.OutputTokens);
        var b = _inEdges.IndexOf(r.InputTokens) * _outEdges.Count + _outEdges.IndexOf(r.OutputTokens);
        _binCount[b]++;
        _binIn[b] += r.InputTokens;
        _binOut[b] += r.OutputTokens;
    }

    public TokenHistogram InputHistogram => _input;
    public TokenHistogram OutputHistogram => _output;

    public TraceStats Result()
    {
        var duration = _count == 0 ? 0 : (_last - _first) / 1e6;
        var bins = new List<TokenBin>();
        for (var i = 0; i < _inEdges.Count; i++)
            for (var o = 0; o < _outEdges.Count; o++)
            {
                var k = i * _outEdges.Count + o;
                if (_binCount[k] == 0) continue;
                bins.Add(new TokenBin(_inEdges.Edges[i], _inEdges.Upper(i), _outEdges.Edges[o], _outEdges.Upper(o), _binCount[k],
                    (double)_binCount[k] / _count, (double)_binIn[k] / _binCount[k], (double)_binOut[k] / _binCount[k]));
            }
        double? cv = _sorted && _gaps > 1 && _gapMean > 0 ? Math.Sqrt(_gapM2 / (_gaps - 1)) / _gapMean : null;
        return new TraceStats(_count, _count == 0 ? 0 : _first, _count == 0 ? 0 : _last, duration,
            duration > 0 ? _count / duration : 0, _perMinute.Count == 0 ? 0 : _perMinute.Values.Max() / 60.0, cv,
            TokenSummary.From(_input), TokenSummary.From(_output), bins);
    }
}
