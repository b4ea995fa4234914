using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Joules.Calibration.Measurement;

/// <summary>The set of iteration shapes a calibration measures: prefill, decode and mixed points (idle is measured on its own).</summary>
public sealed record CalibrationGrid(string Name, IReadOnlyList<CalibrationPoint> Points)
{
    /// <summary>Phases that can be selected with --points.</summary>
    public static readonly IReadOnlyList<Phase> AllPhases = [Phase.Prefill, Phase.Decode, Phase.Mixed, Phase.Idle];

    /// <summary>Largest prefill batch x new tokens in the grid: beyond it prefill is long and compute bound, so the fit extrapolates linearly.</summary>
    public const int MaxPrefillTokens = 16384;

    /// <summary>
    /// Iterations a busy server runs that the small grids lack: budget-filling mixed iterations (a prefill chunk filling
    /// 8192 or 16384 tokens with 32-1024 decodes riding along at contexts 512-4096, some chunks over cached context), and
    /// long single prefills (8k, 16k, 32k). Without them offline and mixed serving is priced by extrapolation.
    /// </summary>
    public static IReadOnlyList<CalibrationPoint> ServingPoints { get; } =
    [
        new(Phase.Mixed, 1, 8160, 0, 32, 512),
        new(Phase.Mixed, 1, 8128, 0, 64, 2048),
        new(Phase.Mixed, 1, 8064, 0, 128, 1024),
        new(Phase.Mixed, 1, 7936, 0, 256, 512),
        new(Phase.Mixed, 1, 8064, 4096, 128, 4096),
        new(Phase.Mixed, 2, 4032, 0, 128, 2048),
        new(Phase.Mixed, 1, 16352, 0, 32, 4096),
        new(Phase.Mixed, 1, 16320, 0, 64, 1024),
        new(Phase.Mixed, 1, 16256, 0, 128, 512),
        new(Phase.Mixed, 1, 16128, 0, 256, 2048),
        new(Phase.Mixed, 2, 8128, 0, 128, 1024),
        new(Phase.Mixed, 1, 16256, 8192, 128, 1024),
        // A long prompt's second 8192-token chunk: the one long chunk over a cache that fits beside a 70B tp2 shard's weights
        // (its 8064 over 4096 + 128 decodes at 4096 does not), so every profile has two chunks over 4096 tokens over a cache
        // and the cost model's long-chunk term is learnt from more than the one point it then predicts (held out, the tp2
        // shard's 16256 over 8192 was -10 % time / -14 % energy, 2026-12-04).
        new(Phase.Mixed, 1, 8160, 8192, 32, 1024),
        // An offline backlog keeps up to max-num-seqs (1024) decodes riding along (hardware validation: 85-88 % of its
        // busy energy was extrapolated without these two).
        new(Phase.Mixed, 1, 7680, 0, 512, 1024),
        new(Phase.Mixed, 1, 7168, 0, 1024, 512),
        // An offline backlog of conversation prompts packs 11-23 of them into one 16384-token iteration beside 14-192
        // decodes at about 1000 context (the shipped trace, `simulate --mode offline`); with 8 prompts the grid's most,
        // all 1,966 such iterations, 52 % of that run's busy energy, were priced by extrapolation.
        new(Phase.Prefill, 16, 1024, 0),
        new(Phase.Prefill, 32, 512, 0),
        new(Phase.Mixed, 16, 1016, 0, 128, 1024),
        new(Phase.Mixed, 24, 672, 0, 256, 1024),
        new(Phase.Mixed, 12, 1360, 0, 64, 2048),
        new(Phase.Prefill, 1, 8192, 0),
        new(Phase.Prefill, 1, 16384, 0),
        new(Phase.Prefill, 1, 32768, 0),
    ];

    /// <summary>Grid names accepted by <see cref="Named"/> (calibrate --grid).</summary>
    public static IReadOnlyList<string> Names { get; } = ["default", "quick", "serving"];

    /// <summary>The grid called <paramref name="name"/>: default, quick, or serving (quick plus <see cref="ServingPoints"/>).</summary>
    public static CalibrationGrid Named(string name, IEnumerable<Phase>? phases = null) => name switch
    {
        "default" => Default(phases),
        "quick" => Quick(phases),
        "serving" => Serving(phases),
        _ => throw new ArgumentException($"--grid: unknown grid '{name}'; expected one of {string.Join(", ", Names)}"),
    };

    /// <summary>The full grid: 67 points (the serving points included), about 17 minutes with the default protocol (5 trials of 2 s; the shipped profiles used 3 of 1 s: about 8).</summary>
    public static CalibrationGrid Default(IEnumerable<Phase>? phases = null) => Build("default", phases,
        prefillTokens: [128, 256, 512, 1024, 2048, 4096],
        prefillBatches: [1, 4, 8],            // batch 2 (in the profiles measured before the serving points) made room for them
        decodeBatches: [1, 8, 32, 64, 128, 256],
        decodeContexts: [256, 1024, 4096],
        mixed:
        [
            new(Phase.Mixed, 1, 512, 0, 32, 1024),
            new(Phase.Mixed, 1, 512, 2048, 32, 1024),
            new(Phase.Mixed, 1, 2048, 0, 64, 1024),
            new(Phase.Mixed, 1, 256, 0, 128, 2048),
            new(Phase.Mixed, 2, 1024, 0, 16, 4096),
            new(Phase.Mixed, 1, 1024, 4096, 8, 512),
            // Chunks over a cache (a long prompt's later chunks, a prefix-cache hit): short chunks under-fill the GPU
            // while they sweep the cached keys, so their cost is not the pairs' alone. With only the two above and two
            // budget-filling ones the fit's price per cached token rested on four points (the 70B tp8 shard's held-out
            // 1024 over 4096 was off by 11.8 %).
            new(Phase.Mixed, 1, 256, 1024, 32, 1024),
            new(Phase.Mixed, 1, 2048, 2048, 64, 512),
            new(Phase.Mixed, 1, 4096, 12288, 16, 2048),
            .. ServingPoints,
        ]);

    /// <summary>The serving grid: the quick grid plus <see cref="ServingPoints"/>, about 35 points in about 5 minutes
    /// with the quick protocol; what a serving validation calibrates on the card that serves.</summary>
    public static CalibrationGrid Serving(IEnumerable<Phase>? phases = null) => QuickShapes("serving", phases, ServingPoints);

    /// <summary>The --quick grid: about 20 points, about 3 minutes on an H100 with an 8B model.</summary>
    public static CalibrationGrid Quick(IEnumerable<Phase>? phases = null) => QuickShapes("quick", phases, []);

    // The quick grid's products and mixed points, then any further points (the order is the grid's, which its fingerprint keeps).
    private static CalibrationGrid QuickShapes(string name, IEnumerable<Phase>? phases, IReadOnlyList<CalibrationPoint> extra) => Build(name, phases,
        prefillTokens: [128, 512, 2048],
        prefillBatches: [1, 4, 16],
        decodeBatches: [1, 16, 64, 128, 256],
        decodeContexts: [512, 2048],
        mixed:
        [
            new(Phase.Mixed, 1, 512, 0, 32, 1024),
            new(Phase.Mixed, 1, 1024, 2048, 64, 1024),
            .. extra,
        ]);

    private static CalibrationGrid Build(string name, IEnumerable<Phase>? phases, int[] prefillTokens, int[] prefillBatches,
        int[] decodeBatches, int[] decodeContexts, CalibrationPoint[] mixed)
    {
        var selected = (phases ?? AllPhases).ToHashSet();
        var points = new List<CalibrationPoint>();
        if (selected.Contains(Phase.Prefill))
            foreach (var n in prefillTokens)
            foreach (var b in prefillBatches)
                if ((long)n * b <= MaxPrefillTokens) points.Add(new CalibrationPoint(Phase.Prefill, b, n, 0));
        if (selected.Contains(Phase.Decode))
            foreach (var c in decodeContexts)
            foreach (var b in decodeBatches)
                points.Add(new CalibrationPoint(Phase.Decode, b, 1, c));
        // The explicit list holds mixed points and a few long prefills beyond the products above.
        points.AddRange(mixed.Where(p => selected.Contains(p.Phase) && !points.Contains(p)));
        var suffix = selected.SetEquals(AllPhases) ? "" : "[" + string.Join(",", AllPhases.Where(selected.Contains).Select(PhaseName)) + "]";
        return new CalibrationGrid(name + suffix, points);
    }

    /// <summary>Parses a --points list such as "prefill,decode,idle".</summary>
    public static IReadOnlyList<Phase> ParsePhases(string list)
    {
        var result = new List<Phase>();
        foreach (var raw in list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var p = raw.ToLowerInvariant() switch
            {
                "prefill" => Phase.Prefill,
                "decode" => Phase.Decode,
                "mixed" => Phase.Mixed,
                "idle" => Phase.Idle,
                _ => throw new ArgumentException($"--points: unknown phase '{raw}'; expected a comma-separated list of prefill, decode, mixed, idle"),
            };
            if (!result.Contains(p)) result.Add(p);
        }
        if (result.Count == 0) throw new ArgumentException("--points: no phases given; expected a comma-separated list of prefill, decode, mixed, idle");
        return result;
    }

    public static string PhaseName(Phase p) => p.ToString().ToLowerInvariant();

    /// <summary>Stable identity of a measured point (with its clock), used by the raw log and resume.</summary>
    public static string Key(CalibrationPoint p, uint? smClock) =>
        $"{PhaseName(p.Phase)}:b{p.BatchSize}:n{p.NewTokens}:c{p.ContextTokens}:d{p.DecodeSequences}:dc{p.DecodeContext}:clk{(smClock is { } c ? c.ToString() : "default")}";

    /// <summary>The grid as JSON (stored in the raw log header and the profile metadata).</summary>
    public string ToJson(IReadOnlyList<uint> smClocks) => JsonSerializer.Serialize(new
    {
        name = Name,
        sm_clocks = smClocks,
        points = Points.Select(p => new { phase = PhaseName(p.Phase), batch = p.BatchSize, new_tokens = p.NewTokens, context = p.ContextTokens, decode_sequences = p.DecodeSequences, decode_context = p.DecodeContext }),
    });

    /// <summary>Hash of the points and clocks: a resumed run must measure exactly the same grid.</summary>
    public string Fingerprint(IReadOnlyList<uint> smClocks)
    {
        var text = string.Join(";", Points.Select(p => Key(p, null))) + "|" + string.Join(",", smClocks);
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..16];
    }

    /// <summary>Estimated wall time to measure the grid (at each clock) plus the idle point.</summary>
    public TimeSpan EstimateDuration(MeasurementOptions options, int clockSettings = 1) =>
        TimeSpan.FromSeconds(Points.Count * Math.Max(1, clockSettings) * options.EstimatedSecondsPerPoint + options.EstimatedIdleSeconds);

    public int Count(Phase phase) => Points.Count(p => p.Phase == phase);
}
