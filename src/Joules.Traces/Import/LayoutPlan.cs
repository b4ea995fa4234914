using System.Globalization;

namespace Joules.Traces.Import;

/// <summary>How arrival times appear in a layout.</summary>
internal enum ArrivalKind
{
    /// <summary>Date-time strings (zone optional, UTC assumed); bare numbers count from the start in the plan's unit.</summary>
    Auto,
    /// <summary>Numbers counted from the start of the trace in the plan's unit.</summary>
    Relative,
    /// <summary>No time column: a seeded Poisson process at the given rate.</summary>
    Generated,
}

/// <summary>A resolved layout: the columns to read and how to turn their text into a <see cref="TraceRequest"/>.</summary>
internal sealed record LayoutPlan(TraceFormat Format, ColumnMap Map, ArrivalKind Arrival, TimeUnit Unit, string? ImagesColumn = null)
{
    public static readonly ColumnMap AzureMap = new("TIMESTAMP", "ContextTokens", "GeneratedTokens");
    public static readonly ColumnMap BurstMap = new("Timestamp", "Request tokens", "Response tokens", Model: "Model", Slo: "Log Type", Session: "Session ID");
    public static readonly ColumnMap MooncakeMap = new("timestamp", "input_length", "output_length");
    public static readonly ColumnMap VidurMap = new("arrived_at", "num_prefill_tokens", "num_decode_tokens");
    public static readonly ColumnMap CanonicalMap = new("arrival_time", "input_tokens", "output_tokens", "model", "tenant", "session_id", "slo_class", "request_id");

    private static readonly string[] InputNames = ["ContextTokens", "Request tokens", "num_prefill_tokens", "input_tokens", "input_length", "prompt_tokens", "input"];
    private static readonly string[] OutputNames = ["GeneratedTokens", "Response tokens", "num_decode_tokens", "output_tokens", "output_length", "completion_tokens", "output"];

    /// <summary>Columns in the order <see cref="RowConverter"/> expects them: arrival, input, output, model, tenant, session, slo, id, images.</summary>
    public string?[] Columns => [Map.Arrival, Map.Input, Map.Output, Map.Model, Map.Tenant, Map.Session, Map.Slo, Map.RequestId, ImagesColumn];

    /// <summary>The optional canonical columns this layout fills, given the source's header.</summary>
    public Canonical.OptionalColumns OptionalColumns(IReadOnlyCollection<string> header)
    {
        var c = Canonical.OptionalColumns.None;
        if (Map.Model is { } m && header.Contains(m)) c |= Canonical.OptionalColumns.Model;
        if (Map.Tenant is { } t && header.Contains(t)) c |= Canonical.OptionalColumns.Tenant;
        if (Map.Session is { } s && header.Contains(s)) c |= Canonical.OptionalColumns.SessionId;
        if (Map.Slo is { } l && header.Contains(l)) c |= Canonical.OptionalColumns.SloClass;
        if (Format == TraceFormat.Mooncake && header.Contains("hash_ids")) c |= Canonical.OptionalColumns.HashIds;
        return c;
    }

    /// <summary>Columns a layout may lack without error (BurstGPT's later `Session ID`, Azure 2025's `NumImages`).</summary>
    public bool IsOptional(string column) =>
        (Format == TraceFormat.BurstGpt && column == "Session ID") || column == ImagesColumn
        || (Format == TraceFormat.Canonical && column is "model" or "tenant" or "session_id" or "slo_class" or "request_id");

    /// <summary>Picks the layout from a header (CSV column names or JSONL keys), or from the explicit format/mapping.</summary>
    public static LayoutPlan Resolve(string file, IReadOnlyList<string> header, TraceImportOptions options, bool isJson)
    {
        var has = new HashSet<string>(header, StringComparer.Ordinal);
        var format = options.Format;
        if (options.Map is not null && format == TraceFormat.Auto) format = TraceFormat.Mapped;
        if (format == TraceFormat.Auto) format = Sniff(has, isJson, options.Rate is not null);
        if (format == TraceFormat.Auto)
            throw new InvalidDataException(
                $"{file}: cannot tell the trace layout from its {(isJson ? "keys" : "header")} [{string.Join(", ", header)}]; " +
                "`joules trace import` reads it with --format or --map arrival=COL,input=COL,output=COL (and -o trace.parquet for simulate)");
        var unit = options.TimeUnit ?? TimeUnit.Seconds;
        return format switch
        {
            TraceFormat.Azure => new LayoutPlan(format, AzureMap, ArrivalKind.Auto, unit, has.Contains("NumImages") ? "NumImages" : null),
            TraceFormat.BurstGpt => new LayoutPlan(format, BurstMap, ArrivalKind.Relative, TimeUnit.Seconds),
            TraceFormat.Mooncake => new LayoutPlan(format, MooncakeMap, ArrivalKind.Relative, TimeUnit.Milliseconds),
            TraceFormat.Vidur => new LayoutPlan(format, VidurMap, ArrivalKind.Relative, TimeUnit.Seconds),
            TraceFormat.Canonical => new LayoutPlan(format, CanonicalMap, ArrivalKind.Auto, TimeUnit.Microseconds),
            TraceFormat.LengthOnly => new LayoutPlan(format,
                options.Map ?? new ColumnMap(null, Find(file, header, InputNames, "input"), Find(file, header, OutputNames, "output")),
                ArrivalKind.Generated, unit),
            TraceFormat.Mapped => options.Map is null
                ? throw new ArgumentException("--format mapped needs --map arrival=COL,input=COL,output=COL")
                : new LayoutPlan(format, options.Map, options.Map.Arrival is null ? ArrivalKind.Generated : ArrivalKind.Auto, unit),
            _ => throw new NotSupportedException($"format {format} is not a row layout"),
        };
    }

    private static TraceFormat Sniff(HashSet<string> h, bool isJson, bool haveRate)
    {
        if (isJson && h.Contains("input_length") && h.Contains("output_length") && h.Contains("timestamp")) return TraceFormat.Mooncake;
        if (h.Contains("Response tokens") && h.Contains("Request tokens") && h.Contains("Timestamp")) return TraceFormat.BurstGpt;
        if (h.Contains("ContextTokens") && h.Contains("GeneratedTokens")) return h.Contains("TIMESTAMP") ? TraceFormat.Azure : TraceFormat.LengthOnly;
        if (h.Contains("arrived_at") && h.Contains("num_prefill_tokens") && h.Contains("num_decode_tokens")) return TraceFormat.Vidur;
        if (h.Contains("input_tokens") && h.Contains("output_tokens")) return h.Contains("arrival_time") ? TraceFormat.Canonical : TraceFormat.LengthOnly;
        if (haveRate && InputNames.Any(h.Contains) && OutputNames.Any(h.Contains)) return TraceFormat.LengthOnly;
        return TraceFormat.Auto;
    }

    private static string Find(string file, IReadOnlyList<string> header, string[] names, string what) =>
        names.FirstOrDefault(header.Contains)
        ?? throw new InvalidDataException($"{file}: no {what} token column (looked for {string.Join(", ", names)}); give --map input=COL,output=COL");
}

/// <summary>Turns the text of one row's mapped fields into a request, throwing <see cref="TraceFormatException"/> on anything unreadable.</summary>
internal sealed class RowConverter
{
    private readonly string _file;
    private readonly LayoutPlan _plan;
    private readonly TraceImportOptions _options;
    private readonly ImportReport _report;
    private readonly Random? _arrivalRng;
    private readonly Dictionary<string, string> _intern = new(StringComparer.Ordinal);
    private readonly RequestIdCheck? _ids;
    private double _generatedSeconds;
    private long _nextId;

    public RowConverter(string file, LayoutPlan plan, TraceImportOptions options, ImportReport report)
    {
        _file = file;
        _plan = plan;
        _options = options;
        _report = report;
        report.FailedDropped = plan.Format == TraceFormat.BurstGpt && options.DropFailed;
        if (plan.Map.RequestId is not null && !options.Renumber) _ids = new RequestIdCheck();
        if (plan.Arrival == ArrivalKind.Generated)
        {
            if (options.Rate is not > 0)
                throw new ArgumentException($"{file} has no arrival times (format {plan.Format}); give --rate R (requests/s) to generate Poisson arrivals");
            _arrivalRng = new Random(options.Seed);
        }
    }

    /// <summary>Converts one row; returns false for a row deliberately dropped (a failed request with --drop-failed).</summary>
    public bool TryConvert(string?[] v, long line, out TraceRequest request)
    {
        var input = Tokens(v[1], _plan.Map.Input, line);
        var output = Tokens(v[2], _plan.Map.Output, line);
        var arrival = Arrival(v[0], line);
        long? sourceId = _ids is not null && _plan.Map.RequestId is { } idCol && v[7] is { Length: > 0 } idText
            ? (long.TryParse(idText, NumberStyles.Integer, CultureInfo.InvariantCulture, out var parsed) ? parsed
                : throw new TraceFormatException(_file, line, idCol, "an integer request id", idText))
            : null;
        var images = 0L;
        if (_plan.ImagesColumn is { } imgCol && v[8] is { Length: > 0 } imgText
            && (!long.TryParse(imgText, NumberStyles.Integer, CultureInfo.InvariantCulture, out images) || images < 0))
            throw new TraceFormatException(_file, line, imgCol, "a non-negative image count", imgText);
        if (sourceId is { } sid) _ids!.Check(sid, _file, line, _plan.Map.RequestId!);
        // Everything that can reject the row has run; only now count it and give it an id, so ids stay contiguous.
        if (images > 0) _report.RequestsWithImages++;
        if (_plan.Format == TraceFormat.BurstGpt && output == 0)
        {
            _report.FailedRequests++;
            if (_options.DropFailed) { request = default; return false; }
        }
        var id = sourceId ?? _nextId;
        _nextId = id + 1;
        request = new TraceRequest(id, arrival, input, output, Str(v[3]), Str(v[4]), Str(v[5]), Str(v[6]));
        return true;
    }

    private int Tokens(string? text, string column, long line)
    {
        if (text is not null)
        {
            if (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n >= 0) return n;
            // Some exporters write integral counts as floats ("374.0").
            if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && d >= 0 && d <= int.MaxValue && d == Math.Floor(d)) return (int)d;
        }
        throw new TraceFormatException(_file, line, column, "a non-negative integer token count", text);
    }

    private long Arrival(string? text, long line)
    {
        if (_plan.Arrival == ArrivalKind.Generated)
        {
            _generatedSeconds += -Math.Log(1 - _arrivalRng!.NextDouble()) / _options.Rate!.Value;
            return _options.StartMicros + (long)Math.Round(_generatedSeconds * 1e6);
        }
        var column = _plan.Map.Arrival!;
        if (text is { Length: > 0 })
        {
            if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var rel) && double.IsFinite(rel))
            {
                // A number: canonical CSV stores absolute µs; every other layout counts from the trace start.
                var unit = _plan.Format == TraceFormat.Canonical ? TimeUnit.Microseconds : _plan.Unit;
                var micros = unit switch { TimeUnit.Seconds => rel * 1e6, TimeUnit.Milliseconds => rel * 1e3, _ => rel };
                // A relative time counts from the trace start; before it is a damaged row (or another column).
                if (rel < 0 && _plan.Format != TraceFormat.Canonical)
                    throw new TraceFormatException(_file, line, column, $"a number of {unit.ToString().ToLowerInvariant()} since the trace start, at least 0", text);
                var at = (_plan.Format == TraceFormat.Canonical ? 0 : _options.StartMicros) + micros;
                // Past year 9999 the conversion would clamp to the largest number a time holds and turn a run into
                // billions of kWh: such a number is almost always in another unit than the layout's.
                if (!TimeText.InCalendar(at))
                    throw new TraceFormatException(_file, line, column,
                        $"a time before the year 10000 (read as {unit.ToString().ToLowerInvariant()}{(_plan.Format == TraceFormat.Canonical ? " since 1970" : " since the trace start")}; is the file in another unit?)", text);
                return (long)Math.Round(at);
            }
            if (_plan.Arrival == ArrivalKind.Auto && TimeText.TryParseMicros(text, out var abs)) return abs;
        }
        var expected = _plan.Arrival == ArrivalKind.Relative
            ? $"a number of {_plan.Unit.ToString().ToLowerInvariant()} since the trace start"
            : $"a date-time such as 2023-11-16 18:15:46.6805900 (UTC assumed when no zone) or a number of {(_plan.Format == TraceFormat.Canonical ? "µs since 1970" : $"{_plan.Unit.ToString().ToLowerInvariant()} since the trace start")}";
        throw new TraceFormatException(_file, line, column, expected, text);
    }

    private string? Str(string? s)
    {
        if (string.IsNullOrEmpty(s)) return null;
        if (_intern.TryGetValue(s, out var cached)) return cached;
        // Models, tenants and classes repeat millions of times; sessions are many but still bounded here.
        if (_intern.Count < 65536) _intern[s] = s;
        return s;
    }
}

/// <summary>Date-time text to µs since the Unix epoch, UTC assumed when the text has no zone.</summary>
public static class TimeText
{
    /// <summary>Latest time a trace may hold, µs since the epoch: the end of year 9999, the calendar's last (a timestamp past it is a unit mistake, e.g. nanoseconds read as milliseconds).</summary>
    public static readonly long MaxMicros = (DateTime.MaxValue.Ticks - DateTime.UnixEpoch.Ticks) / 10;
    /// <summary>Earliest time a trace may hold: the start of year 1.</summary>
    public static readonly long MinMicros = (DateTime.MinValue.Ticks - DateTime.UnixEpoch.Ticks) / 10;

    /// <summary>Whether <paramref name="micros"/> is a time the calendar holds.</summary>
    public static bool InCalendar(double micros) => micros >= MinMicros && micros <= MaxMicros;

    public static bool TryParseMicros(string text, out long micros)
    {
        if (TryParseIso(text, out micros)) return true;
        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture,
                DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal | DateTimeStyles.AllowWhiteSpaces, out var t))
        {
            micros = (t.UtcTicks - DateTime.UnixEpoch.Ticks) / 10;
            return true;
        }
        micros = 0;
        return false;
    }

    /// <summary>Fast path for the layouts traces use, `yyyy-MM-dd[ T]HH:mm:ss[.fraction][Z|±hh:mm]`, several times quicker than the general parser; anything else falls back to it. Digits beyond microseconds are truncated.</summary>
    internal static bool TryParseIso(ReadOnlySpan<char> s, out long micros)
    {
        micros = 0;
        s = s.Trim();
        if (s.Length < 19 || s[4] != '-' || s[7] != '-' || (s[10] != ' ' && s[10] != 'T') || s[13] != ':' || s[16] != ':') return false;
        if (!Digits(s, 0, 4, out var year) || !Digits(s, 5, 2, out var month) || !Digits(s, 8, 2, out var day)
            || !Digits(s, 11, 2, out var hour) || !Digits(s, 14, 2, out var minute) || !Digits(s, 17, 2, out var second)) return false;
        if (year < 1 || month is < 1 or > 12 || day < 1 || day > DateTime.DaysInMonth(year, month) || hour > 23 || minute > 59 || second > 59) return false;
        var i = 19;
        long fraction = 0;
        if (i < s.Length && s[i] == '.')
        {
            i++;
            var digits = 0;
            while (i < s.Length && char.IsAsciiDigit(s[i]))
            {
                if (digits < 6) fraction = fraction * 10 + (s[i] - '0');
                digits++;
                i++;
            }
            if (digits == 0) return false;
            for (var d = digits; d < 6; d++) fraction *= 10;
        }
        long offsetMinutes = 0;
        if (i < s.Length)
        {
            if (s[i] == 'Z' && i == s.Length - 1) { }
            else if ((s[i] == '+' || s[i] == '-') && s.Length - i == 6 && s[i + 3] == ':'
                     && Digits(s, i + 1, 2, out var oh) && Digits(s, i + 4, 2, out var om) && oh <= 14 && om <= 59)
                offsetMinutes = (s[i] == '+' ? 1 : -1) * (oh * 60L + om);
            else return false;
        }
        var days = new DateOnly(year, month, day).DayNumber - DateOnly.FromDateTime(DateTime.UnixEpoch).DayNumber;
        micros = ((days * 86400L + hour * 3600L + minute * 60L + second - offsetMinutes * 60) * 1_000_000L) + fraction;
        return true;
    }

    private static bool Digits(ReadOnlySpan<char> s, int start, int count, out int value)
    {
        value = 0;
        for (var k = start; k < start + count; k++)
        {
            if (!char.IsAsciiDigit(s[k])) return false;
            value = value * 10 + (s[k] - '0');
        }
        return true;
    }

    /// <summary>ISO 8601 with 6 fractional digits and Z, the form canonical CSV uses.</summary>
    /// <remarks>A time outside the calendar (a damaged or foreign file) is shown as its number rather than failing.</remarks>
    public static string Format(long micros) => InCalendar(micros)
        ? new DateTime(DateTime.UnixEpoch.Ticks + micros * 10, DateTimeKind.Utc).ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture)
        : $"{micros.ToString(CultureInfo.InvariantCulture)} µs since 1970 (outside the calendar)";
}
