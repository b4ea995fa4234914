namespace Joules.Profiles;

/// <summary>
/// Optional capability of a cost model: the summed cost of a run of consecutive pure-decode iterations
/// in closed form, so the simulator can jump over a steady decode phase without pricing every step.
/// Cost models without it are priced step by step; results agree to rounding.
/// </summary>
public interface IDecodeRunCostModel : ICostModel
{
    /// <summary>
    /// Total seconds and joules of <paramref name="steps"/> consecutive decode iterations of
    /// <paramref name="batch"/> sequences: the first with context tokens summing to
    /// <paramref name="contextSum"/> (as in <see cref="IterationShape.DecodeContextTokens"/>), each next one with <paramref name="batch"/> more.
    /// </summary>
    IterationCost EstimateDecodeRun(int batch, long contextSum, long steps);
}
