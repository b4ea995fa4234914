namespace Joules.Profiles.Measured;

/// <summary>What a measured profile point's iterations contain.</summary>
public enum ProfilePhase { Prefill, Decode, Mixed, Idle }

/// <summary>One measured point of a calibration profile: an iteration shape and its median time and energy on one GPU.</summary>
/// <remarks>
/// Energy and time are per GPU and per iteration: with tensor parallelism the calibrator measures one
/// shard on one GPU, and the cost model multiplies energy by the tp degree for the whole instance.
/// For the idle point, <see cref="IterationSeconds"/> and <see cref="EnergyJoules"/> describe the idle
/// measurement window and <see cref="MeanPowerWatts"/> is the idle power.
/// </remarks>
public sealed record ProfilePoint
{
    public required ProfilePhase Phase { get; init; }
    /// <summary>Prefill/mixed: prefill sequences. Decode: decoding sequences. Idle: 0.</summary>
    public int BatchSize { get; init; }
    /// <summary>Prefill/mixed: new tokens per prefill sequence. Decode: 1.</summary>
    public int NewTokens { get; init; }
    /// <summary>Prefill/mixed: tokens cached before each chunk. Decode: context each sequence already holds.</summary>
    public int ContextTokens { get; init; }
    /// <summary>Mixed: decodes riding along with the prefill chunks.</summary>
    public int DecodeSequences { get; init; }
    /// <summary>Mixed: context each riding decode already holds.</summary>
    public int DecodeContext { get; init; }
    public int TpDegree { get; init; } = 1;
    /// <summary>SM clock the GPU was locked to for this point, or null for the card's default clock management.</summary>
    public int? SmClockTarget { get; init; }
    /// <summary>Median seconds per iteration.</summary>
    public required double IterationSeconds { get; init; }
    /// <summary>Median joules per iteration on one GPU.</summary>
    public required double EnergyJoules { get; init; }
    public double MeanPowerWatts { get; init; }
    /// <summary>Mean SM clock observed during the measurement windows.</summary>
    public double SmClockMHz { get; init; }
    /// <summary>Highest GPU temperature observed during the measurement windows.</summary>
    public double TemperatureC { get; init; }
    /// <summary>NVML clock-event reasons seen during any window, OR-ed together (power cap, thermal, ...).</summary>
    public long ThrottleReasons { get; init; }
    /// <summary>Trials the medians are taken over.</summary>
    public int Repeats { get; init; }
    /// <summary>Coefficient of variation of the per-trial time per iteration.</summary>
    public double CvTime { get; init; }
    /// <summary>Coefficient of variation of the per-trial energy per iteration.</summary>
    public double CvEnergy { get; init; }

    /// <summary>The iteration shape this point measured (empty for idle).</summary>
    public IterationShape Shape
    {
        get
        {
            var s = default(IterationShape);
            switch (Phase)
            {
                case ProfilePhase.Prefill:
                    for (var i = 0; i < BatchSize; i++) s = s.AddPrefill(NewTokens, ContextTokens);
                    break;
                case ProfilePhase.Decode:
                    // A decode step's context includes the token it produces (IterationShape convention).
                    for (var i = 0; i < BatchSize; i++) s = s.AddDecode(ContextTokens + 1L);
                    break;
                case ProfilePhase.Mixed:
                    for (var i = 0; i < BatchSize; i++) s = s.AddPrefill(NewTokens, ContextTokens);
                    for (var i = 0; i < DecodeSequences; i++) s = s.AddDecode(DecodeContext + 1L);
                    break;
            }
            return s;
        }
    }

    /// <summary>Tokens processed per iteration (prefill tokens plus one per decode).</summary>
    public long TokensPerIteration => Shape.TotalTokens;

    /// <summary>Whether NVML reported a power-cap or thermal clock event during this point (other reasons such as idle are ignored).</summary>
    public bool Throttled => (ThrottleReasons & ThrottleReasonBits.PowerOrThermal) != 0;

    public override string ToString() => Phase switch
    {
        ProfilePhase.Prefill => $"prefill b={BatchSize} new={NewTokens} ctx={ContextTokens}",
        ProfilePhase.Decode => $"decode b={BatchSize} ctx={ContextTokens}",
        ProfilePhase.Mixed => $"mixed b={BatchSize} new={NewTokens} ctx={ContextTokens} + {DecodeSequences} decodes at {DecodeContext}",
        _ => "idle",
    } + (SmClockTarget is { } c ? $" @{c}MHz" : "");
}

/// <summary>NVML clock-event reason bits (nvmlClocksEventReason*), named so profiles can say why a point ran slow.</summary>
public static class ThrottleReasonBits
{
    public const long GpuIdle = 0x1;
    public const long ApplicationsClocksSetting = 0x2;
    public const long SwPowerCap = 0x4;
    public const long HwSlowdown = 0x8;
    public const long SyncBoost = 0x10;
    public const long SwThermalSlowdown = 0x20;
    public const long HwThermalSlowdown = 0x40;
    public const long HwPowerBrakeSlowdown = 0x80;
    public const long DisplayClockSetting = 0x100;

    /// <summary>The reasons that mean the GPU ran slower than it could because of power or heat.</summary>
    public const long PowerOrThermal = SwPowerCap | HwSlowdown | SwThermalSlowdown | HwThermalSlowdown | HwPowerBrakeSlowdown;

    /// <summary>Short names of the set bits, e.g. "sw_power_cap|hw_thermal"; "none" when no bit is set.</summary>
    public static string Describe(long reasons)
    {
        if (reasons == 0) return "none";
        var names = new List<string>();
        void Add(long bit, string name) { if ((reasons & bit) != 0) names.Add(name); }
        Add(GpuIdle, "idle"); Add(ApplicationsClocksSetting, "app_clocks"); Add(SwPowerCap, "sw_power_cap");
        Add(HwSlowdown, "hw_slowdown"); Add(SyncBoost, "sync_boost"); Add(SwThermalSlowdown, "sw_thermal");
        Add(HwThermalSlowdown, "hw_thermal"); Add(HwPowerBrakeSlowdown, "hw_power_brake"); Add(DisplayClockSetting, "display_clocks");
        var known = GpuIdle | ApplicationsClocksSetting | PowerOrThermal | SyncBoost | DisplayClockSetting;
        if ((reasons & ~known) != 0) names.Add($"0x{reasons & ~known:x}");
        return string.Join('|', names);
    }
}
