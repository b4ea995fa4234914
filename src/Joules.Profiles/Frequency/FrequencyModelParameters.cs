namespace Joules.Profiles.Frequency;

/// <summary>
/// The published figures the modelled frequency scaling rests on, each with where it comes from. Power of one GPU
/// at SM clock f is P(f) = P_static + E_mem / T(f) + P_dyn,b (f / f_b)^alpha, where f_b is the clock the profile
/// point ran at, P_static the measured idle power, E_mem the HBM energy of the bytes the iteration moves and
/// P_dyn,b the rest of the measured power.
/// </summary>
public sealed record FrequencyModelParameters
{
    /// <summary>
    /// Exponent of the SM's dynamic power in its clock: 3, from the CMOS relation P = C V^2 f with the supply voltage
    /// scaled roughly in proportion to the clock over the DVFS range, the model GPU DVFS studies fit (survey and
    /// measurements: Mei, Wang and Chu, "A Survey and Measurement Study of GPU DVFS on Energy Conservation",
    /// Digital Communications and Networks 3(2), 2017, doi:10.1016/j.dcan.2016.10.001).
    /// </summary>
    public double Alpha { get; init; } = 3.0;

    /// <summary>
    /// HBM energy per bit moved, joules: about 3.9 pJ/bit for HBM2 (O'Connor et al., "Fine-Grained DRAM:
    /// Energy-Efficient DRAM for Extreme Bandwidth Systems", MICRO-50, 2017); HBM3/3e is taken to be no worse. This
    /// part of the power follows the bytes, not the SM clock (HBM runs on its own clock).
    /// </summary>
    public double HbmJoulesPerBit { get; init; } = 3.9e-12;

    /// <summary>A point whose measured power is within this fraction of the power limit (and, where NVML recorded it, flagged sw_power_cap) counts as power-capped: its clock cannot go higher.</summary>
    public double PowerCapFraction { get; init; } = 0.97;

    /// <summary>What the model is called in outputs.</summary>
    public const string Label = "modelled";

    public static FrequencyModelParameters Published { get; } = new();

    public void Validate()
    {
        if (!(Alpha >= 1 && Alpha <= 4)) throw new ArgumentException($"frequency model: alpha must lie in [1, 4], got {Alpha}");
        if (!(HbmJoulesPerBit >= 0)) throw new ArgumentException($"frequency model: HBM energy per bit must not be negative, got {HbmJoulesPerBit}");
        if (!(PowerCapFraction is > 0 and <= 1)) throw new ArgumentException($"frequency model: the power-cap fraction must lie in (0, 1], got {PowerCapFraction}");
    }
}
