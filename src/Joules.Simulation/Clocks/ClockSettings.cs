using System.Globalization;
using S = Joules.Simulation.Settings.SimulateSettings;

namespace Joules.Simulation.Clocks;

/// <summary>How an instance's SM clock is chosen.</summary>
public enum ClockGovernorKind
{
    /// <summary>The card's own clock management, exactly as the profile measured it.</summary>
    Default,
    /// <summary>One locked clock for every iteration.</summary>
    Fixed,
    /// <summary>One clock for iterations that prefill, another for decode-only iterations.</summary>
    PerPhase,
    /// <summary>Each window, the lowest clock whose predicted iteration time keeps the TPOT target (DynamoLLM / throttLL'eM style).</summary>
    SloAware,
}

/// <summary>Names of the clock governors as settings and reports spell them.</summary>
public static class ClockGovernorNames
{
    public const string Default = "default";
    public const string Fixed = "fixed";
    public const string PerPhase = "per-phase";
    public const string SloAware = "slo-aware";
    public static readonly string[] All = [Default, Fixed, PerPhase, SloAware];

    public static ClockGovernorKind Parse(string name) => name switch
    {
        Fixed => ClockGovernorKind.Fixed,
        PerPhase => ClockGovernorKind.PerPhase,
        SloAware => ClockGovernorKind.SloAware,
        _ => ClockGovernorKind.Default,
    };
}

/// <summary>The clock governor of a scenario and its parameters (MHz and seconds); <see cref="Default"/> leaves clocks alone.</summary>
public sealed record ClockSettings
{
    public ClockGovernorKind Governor { get; init; } = ClockGovernorKind.Default;
    /// <summary>The fixed governor's clock.</summary>
    public double? FixedMHz { get; init; }
    /// <summary>Per-phase: clock of iterations with prefill work; null is the card's maximum.</summary>
    public double? PrefillMHz { get; init; }
    /// <summary>Per-phase: clock of decode-only iterations.</summary>
    public double DecodeMHz { get; init; } = 1200;
    /// <summary>SLO-aware: the lowest clock it picks.</summary>
    public double MinMHz { get; init; } = 800;
    /// <summary>SLO-aware: seconds between choices.</summary>
    public double WindowSeconds { get; init; } = 1;
    /// <summary>SLO-aware: fraction of the TPOT target one iteration may take.</summary>
    public double SloMargin { get; init; } = 0.8;
    /// <summary>SLO-aware: spacing of the clocks it chooses from (Hopper cards list supported clocks 15 MHz apart).</summary>
    public double StepMHz { get; init; } = 15;

    public static ClockSettings Default { get; } = new();

    public bool IsDefault => Governor == ClockGovernorKind.Default;

    /// <summary>The governor a scenario's settings describe: --sm-clock alone means fixed.</summary>
    public static ClockSettings From(ScenarioSpec spec)
    {
        var hasFixed = spec.TryGet(S.SmClock, out var sm);
        var name = spec.Text(S.ClockGovernor) ?? (hasFixed ? ClockGovernorNames.Fixed : ClockGovernorNames.Default);
        var kind = ClockGovernorNames.Parse(name);
        if (kind == ClockGovernorKind.Fixed && !hasFixed)
            throw new ArgumentException($"{S.ClockGovernor.OptionName} fixed needs {S.SmClock.OptionName} MHz");
        if (hasFixed && kind != ClockGovernorKind.Fixed)
            throw new ArgumentException($"{S.SmClock.OptionName} locks one clock, which only the fixed governor uses; drop it or use {S.ClockGovernor.OptionName} fixed");
        return new ClockSettings
        {
            Governor = kind,
            FixedMHz = hasFixed ? sm : null,
            PrefillMHz = spec.TryGet(S.PrefillClock, out var pf) ? pf : null,
            DecodeMHz = spec.GetOr(S.DecodeClock, 1200),
            MinMHz = spec.GetOr(S.MinClock, 800),
            WindowSeconds = spec.GetOr(S.ClockWindow, 1.0),
            SloMargin = spec.GetOr(S.ClockSloMargin, 0.8),
        };
    }

    public void Validate()
    {
        if (Governor == ClockGovernorKind.Fixed && FixedMHz is not > 0) throw new ArgumentException("the fixed clock governor needs a positive sm-clock");
        if (!(DecodeMHz > 0) || PrefillMHz is <= 0 || !(MinMHz > 0)) throw new ArgumentException("clocks must be positive numbers of MHz");
        if (!(WindowSeconds > 0)) throw new ArgumentException($"clock-window must be a positive number of seconds, got {WindowSeconds}");
        if (!(SloMargin is > 0 and <= 1)) throw new ArgumentException($"clock-slo-margin must lie in (0, 1], got {SloMargin}");
        if (!(StepMHz > 0)) throw new ArgumentException("the governor's clock step must be positive");
    }

    /// <summary>e.g. "default clocks", "fixed 1600 MHz", "per-phase 1980/1200 MHz", "slo-aware >= 800 MHz".</summary>
    public string Describe(double maxMHz = double.NaN)
    {
        var c = CultureInfo.InvariantCulture;
        string M(double v) => v.ToString("0.#", c);
        return Governor switch
        {
            ClockGovernorKind.Fixed => $"fixed {M(FixedMHz!.Value)} MHz",
            ClockGovernorKind.PerPhase => $"per-phase {(PrefillMHz is { } p ? M(p) : double.IsFinite(maxMHz) ? M(maxMHz) : "max")}/{M(DecodeMHz)} MHz",
            ClockGovernorKind.SloAware => $"slo-aware >= {M(MinMHz)} MHz, {M(WindowSeconds)} s windows, {M(SloMargin * 100)}% of TPOT",
            _ => "default clocks",
        };
    }
}
