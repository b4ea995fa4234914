using Joules.Scheduling;

namespace Joules.Serving.Engines;

/// <summary>How one iteration ran: its wall time inside the engine, the part the device (or the cost model) took, and its energy when the engine knows it.</summary>
/// <param name="DeviceSeconds">GPU time between events around the kernels (gpu), or the cost model's price (sim).</param>
/// <param name="Joules">Energy of the iteration when the engine prices it (sim); NaN when it is measured from outside (gpu: NVML).</param>
/// <param name="Graph">Whether it replayed a CUDA graph.</param>
public readonly record struct EngineStep(double DeviceSeconds, double Joules = double.NaN, bool Graph = false);

/// <summary>
/// What the real-time serving loop drives: it runs one iteration the scheduler formed and writes the greedy token of
/// each batch entry. The GPU engine runs the calibration transformer; the simulated one waits the cost model's price.
/// </summary>
public interface IIterationEngine : IDisposable
{
    /// <summary>"gpu" or "sim".</summary>
    string Kind { get; }
    /// <summary>What it runs on, for /metrics and run metadata ("NVIDIA H200", "simulated h200").</summary>
    string DeviceName { get; }
    /// <summary>The GPU's UUID, or empty.</summary>
    string DeviceUuid { get; }
    /// <summary>KV blocks the engine holds; the scheduler's block ids lie below it.</summary>
    int KvBlocks { get; }
    /// <summary>Vocabulary size: prompt token ids must lie below it.</summary>
    int Vocab { get; }
    /// <summary>Energy counter and power of the device, if one can be read.</summary>
    IEnergyMeter? Meter { get; }
    /// <summary>The kernels it runs, under the keys a profile records its engine by (engine.decode_attention, ...); empty for the sim engine.</summary>
    IReadOnlyDictionary<string, string> Kernels { get; }

    /// <summary>
    /// Runs the iteration in <paramref name="batch"/> and blocks until it is done. <paramref name="tokens"/> gives each
    /// slot's prompt followed by its generated tokens (entry e computes positions [ContextBefore, ContextBefore + Tokens));
    /// <paramref name="sampled"/>[e] receives entry e's next token.
    /// </summary>
    EngineStep Run(ScheduledBatch batch, SequencePool pool, IReadOnlyList<int[]?> tokens, Span<int> sampled);
}

/// <summary>A device energy counter: cumulative joules and present power.</summary>
public interface IEnergyMeter
{
    /// <summary>Energy since some fixed origin, in joules (monotone).</summary>
    double TotalJoules();
    double PowerWatts();
}
