namespace Joules.Profiles.Frequency;

/// <summary>A cost model that can price an iteration at a chosen SM clock: from a measured clock sweep or from the modelled frequency scaling.</summary>
/// <remarks>
/// <see cref="ICostModel.Estimate"/> prices at the card's own clock management (what the profile measured);
/// the overloads here take a requested clock in MHz. A request above what the card can sustain for the shape (its
/// maximum clock, or the clock its power limit allows) runs at that sustainable clock instead, as a locked clock on a
/// real card does.
/// </remarks>
public interface IClockedCostModel : IDecodeRunCostModel
{
    /// <summary>Highest SM clock of the card, MHz.</summary>
    double MaxClockMHz { get; }

    /// <summary>"measured" when the prices come from a measured clock sweep, "modelled" when from the frequency model.</summary>
    string Basis { get; }

    /// <summary>The cost model that prices the card's own clock management (the one this model scales from).</summary>
    ICostModel Inner { get; }

    /// <summary>Duration and whole-instance energy of an iteration with the SM clock locked at <paramref name="clockMHz"/>.</summary>
    IterationCost Estimate(in IterationShape shape, double clockMHz);

    /// <summary>Summed cost of a run of pure decode steps (see <see cref="IDecodeRunCostModel"/>) at <paramref name="clockMHz"/>.</summary>
    IterationCost EstimateDecodeRun(int batch, long contextSum, long steps, double clockMHz);

    /// <summary>The clock the GPU would actually run at for the shape when <paramref name="clockMHz"/> is requested (at most the maximum, and at most what the power limit allows).</summary>
    double EffectiveClockMHz(in IterationShape shape, double clockMHz);
}

/// <summary>Picks the clock-capable cost model for a cost model: the measured sweep when its profile holds one, else the modelled frequency scaling.</summary>
public static class ClockedCostModels
{
    public static IClockedCostModel For(ICostModel cost, FrequencyModelParameters? parameters = null) => cost switch
    {
        IClockedCostModel c => c,
        Measured.ProfileCostModel p when MeasuredClockSweepCostModel.HasSweep(p.Profile) => new MeasuredClockSweepCostModel(p),
        _ => new ModelledFrequencyCostModel(cost, parameters),
    };
}
