using System.Text.Json;
using System.Text.Json.Serialization;

namespace Joules.Profiles.Measured;

/// <summary>What `joules profile show` reports about a profile: provenance, grid, measurement spread, idle power, J/token and cross-validated error.</summary>
public sealed record ProfileSummary
{
    public required string File { get; init; }
    public required GpuInfo Gpu { get; init; }
    public required ModelInfo Model { get; init; }
    public int TensorParallel { get; init; }
    public string CreatedUtc { get; init; } = "";
    public string ToolVersion { get; init; } = "";
    public string Command { get; init; } = "";
    public string Grid { get; init; } = "";
    public required PointCounts Points { get; init; }
    public required MeasurementSpread Measurement { get; init; }
    /// <summary>Idle power of the whole instance (all tp GPUs).</summary>
    public double IdlePowerW { get; init; }
    public required IReadOnlyList<EnergyPerToken> JPerToken { get; init; }
    public required CrossValidationSummary CrossValidation { get; init; }
    /// <summary>Every held-out point the summary's cross-validation figures come from (not part of the JSON form).</summary>
    [JsonIgnore]
    public CrossValidationReport HeldOut { get; init; } = new([]);
    public required string CostModel { get; init; }
    /// <summary>Set when the profile is derived (estimated from another GPU's measurements), null when it was measured.</summary>
    public DerivedInfo? Derived { get; init; }
    /// <summary>What measured the profile: the calibration engine's attention, projection and graph paths and its kernels' source hash (metadata keys <c>engine.*</c> without the prefix); empty for profiles written before they were recorded.</summary>
    public IReadOnlyDictionary<string, string> Engine { get; init; } = new SortedDictionary<string, string>();

    /// <summary>Where a derived profile's numbers come from.</summary>
    public sealed record DerivedInfo(string Note, string From, string FromSha256, string Method, string SourceGpu, string TargetDatasheet,
        string SourceRates, double FixedOverheadS, IReadOnlyList<double> StageMultipliers, string ToolVersion, IReadOnlyList<string> Dropped);

    /// <summary>GPU provenance.</summary>
    /// <param name="Name">NVML name.</param>
    /// <param name="Uuid">UUID of the card that measured the profile (its idle point, when more than one did).</param>
    /// <param name="Driver">Driver version.</param>
    /// <param name="Cuda">CUDA version.</param>
    /// <param name="PowerLimitW">Power limit while measured.</param>
    /// <param name="CatalogName">The catalog's name for the GPU, or "".</param>
    /// <param name="Cards">For a profile measured on more than one card, each card's UUID and its point count; "" for one card.</param>
    public sealed record GpuInfo(string Name, string Uuid, string Driver, string Cuda, double PowerLimitW, string CatalogName, string Cards = "");

    /// <summary>Model architecture.</summary>
    public sealed record ModelInfo(string Name, int Layers, int Hidden, int Heads, int KvHeads, int Ffn, int Vocab, string Dtype, long Parameters);

    /// <summary>How many points of each kind, at which clocks, and how many throttled.</summary>
    public sealed record PointCounts(int Total, int Prefill, int Decode, int Mixed, int Idle, IReadOnlyList<string> SmClocks, int Throttled);

    /// <summary>Spread of repeated trials across the measured points.</summary>
    public sealed record MeasurementSpread(double MedianCvTime, double MedianCvEnergy, double WorstCvEnergy, int MedianRepeats);

    /// <summary>Energy per token of a representative iteration, from the cost model (whole instance, tensor-parallel communication included), beside the datasheet roofline's estimate of the same iteration (null for a GPU the catalog does not know).</summary>
    public sealed record EnergyPerToken(string Label, string Phase, int Batch, int Tokens, int Context, double IterationS, double JPerToken, double TokensPerS, string Method,
        double? RooflineIterationS = null, double? RooflineJPerToken = null);

    /// <summary>Leave-one-out errors of the cost model against held-out measured points.</summary>
    public sealed record CrossValidationSummary(int Points, double MedianTimeError, double WorstTimeError, double MedianEnergyError, double WorstEnergyError, string WorstTimePoint, string WorstEnergyPoint);

    public static ProfileSummary Create(MeasuredProfile profile, string file, int? smClockTarget = null)
    {
        var m = profile.Metadata;
        var d = m.Derived;
        var measured = profile.Points.Where(p => p.Phase != ProfilePhase.Idle).ToArray();
        // A profile of idle alone (--points idle) has no cost model but is still worth describing.
        var model = measured.Any(p => p.IterationSeconds > 0 && p.EnergyJoules > 0) ? new ProfileCostModel(profile, smClockTarget: smClockTarget) : null;
        var cv = model?.CrossValidate() ?? new CrossValidationReport([]);
        var tp = Math.Max(1, m.TensorParallel);
        var gpu = Catalog.TryGpu(m.GpuName);
        // The datasheet estimate beside each measured figure shows how far real kernels and power sit from the ideal.
        var roof = gpu is null ? null : new Roofline.RooflineCostModel(gpu, m.Model, tp);

        var reps = new List<EnergyPerToken>();
        void Decode(int batch, int context)
        {
            if (model is null) return;
            var shape = IterationShape.Decode(batch, context + 1L);
            var c = model.Estimate(shape);
            var r = roof?.Estimate(shape);
            reps.Add(new EnergyPerToken($"decode batch {batch} at context {context}", "decode", batch, batch, context, c.Seconds, c.Joules / batch, batch / c.Seconds, Describe(c.Pricing),
                r?.Seconds, r?.Joules / batch));
        }
        void Prefill(int batch, int tokens)
        {
            if (model is null) return;
            var shape = IterationShape.Prefill(batch, tokens);
            var c = model.Estimate(shape);
            var r = roof?.Estimate(shape);
            reps.Add(new EnergyPerToken($"prefill {batch} x {tokens}", "prefill", batch, batch * tokens, 0, c.Seconds, c.Joules / (batch * tokens), batch * tokens / c.Seconds, Describe(c.Pricing),
                r?.Seconds, r?.Joules / (batch * tokens)));
        }
        foreach (var b in new[] { 1, 16, 64, 128, 256 }) Decode(b, 1024);
        Prefill(1, 512);
        Prefill(1, 2048);
        Prefill(8, 2048);

        // Every estimate of a derived profile says so where it is shown, not only in the header.
        string Describe(PricingClass pricing) => d is null ? pricing.Label() : "derived, " + pricing.Label();
        string Name(CrossValidationPoint? p) => p is null ? "" : $"{p.Point} ({Describe(p.Pricing)}: time {p.TimeError:+0.0%;-0.0%}, energy {p.EnergyError:+0.0%;-0.0%})";
        return new ProfileSummary
        {
            File = file,
            Gpu = new GpuInfo(m.GpuName, m.GpuUuid, m.DriverVersion, m.CudaVersion, m.PowerLimitWatts, gpu?.Name ?? "",
                m.Extra.TryGetValue(ProfileMetadata.CardsKey, out var cards) ? cards : ""),
            Model = new ModelInfo(m.Model.Name, m.Model.Layers, m.Model.Hidden, m.Model.Heads, m.Model.KvHeads, m.Model.Ffn, m.Model.Vocab, m.Model.Dtype, m.Model.Parameters),
            TensorParallel = tp,
            CreatedUtc = m.CreatedUtc.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ"),
            ToolVersion = m.ToolVersion,
            Command = m.Command,
            Grid = GridName(m.Grid),
            Points = new PointCounts(profile.Points.Count,
                measured.Count(p => p.Phase == ProfilePhase.Prefill), measured.Count(p => p.Phase == ProfilePhase.Decode),
                measured.Count(p => p.Phase == ProfilePhase.Mixed), profile.Points.Count(p => p.Phase == ProfilePhase.Idle),
                profile.ClockTargets.Select(c => c is { } v ? $"{v} MHz" : "default").ToArray(),
                measured.Count(p => p.Throttled)),
            Measurement = new MeasurementSpread(
                CrossValidationReport.Median(measured.Select(p => p.CvTime)),
                CrossValidationReport.Median(measured.Select(p => p.CvEnergy)),
                measured.Length == 0 ? double.NaN : measured.Max(p => p.CvEnergy),
                (int)CrossValidationReport.Median(measured.Select(p => (double)p.Repeats))),
            IdlePowerW = profile.IdlePowerWatts * tp,
            JPerToken = reps,
            HeldOut = cv,
            CrossValidation = new CrossValidationSummary(cv.Count, cv.MedianTimeError, cv.WorstTimeError, cv.MedianEnergyError, cv.WorstEnergyError,
                Name(cv.WorstTimePoint), Name(cv.WorstEnergyPoint)),
            CostModel = model?.Name ?? "none (no measured iterations)",
            Engine = new SortedDictionary<string, string>(ProfileMetadata.EngineEntries(m.Extra)
                .ToDictionary(kv => kv.Key[ProfileMetadata.EngineKeyPrefix.Length..], kv => kv.Value), StringComparer.Ordinal),
            Derived = d is null ? null : new DerivedInfo(d.Note, d.From, d.FromSha256, d.Method, d.SourceGpu, d.TargetDatasheet.Name, d.SourceRates.Describe(),
                d.FixedOverheadSeconds, d.StageMultipliers, d.ToolVersion, d.Dropped),
        };
    }

    private static string GridName(string gridJson)
    {
        try
        {
            using var doc = JsonDocument.Parse(gridJson);
            return doc.RootElement.TryGetProperty("name", out var n) ? n.GetString() ?? "" : "";
        }
        catch (JsonException)
        {
            return gridJson;
        }
    }

    private static readonly JsonSerializerOptions s_json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        // "n/a" figures (a derived profile has no spread) are null, as in summary.json, not the string "NaN".
        Converters = { Joules.Output.NonFiniteAsNull.Instance },
    };

    public string ToJson() => JsonSerializer.Serialize(this, s_json);
}
