using Joules.Profiles;

namespace Joules.Calibration;

/// <summary>Kind of calibration point: what an iteration at this point contains.</summary>
public enum Phase { Prefill, Decode, Mixed, Idle }

/// <summary>One point of the calibration grid: an iteration shape to repeat and measure.</summary>
/// <param name="Phase">What the iteration contains.</param>
/// <param name="BatchSize">Prefill: sequences in the prefill batch. Decode: sequences decoding. Mixed: prefill sequences.</param>
/// <param name="NewTokens">Prefill/mixed: new tokens per prefill sequence. Decode: 1.</param>
/// <param name="ContextTokens">Prefill/mixed: tokens already cached before each chunk. Decode: context each sequence already holds.</param>
/// <param name="DecodeSequences">Mixed only: decodes riding along with the prefill chunk.</param>
/// <param name="DecodeContext">Mixed only: context of each riding decode.</param>
public sealed record CalibrationPoint(Phase Phase, int BatchSize, int NewTokens, int ContextTokens, int DecodeSequences = 0, int DecodeContext = 0)
{
    public IterationComposition ToComposition()
    {
        var seqs = new List<SequenceWork>();
        switch (Phase)
        {
            case Phase.Prefill:
                for (var i = 0; i < BatchSize; i++) seqs.Add(new SequenceWork(NewTokens, ContextTokens));
                break;
            case Phase.Decode:
                for (var i = 0; i < BatchSize; i++) seqs.Add(new SequenceWork(1, ContextTokens));
                break;
            case Phase.Mixed:
                for (var i = 0; i < BatchSize; i++) seqs.Add(new SequenceWork(NewTokens, ContextTokens));
                for (var i = 0; i < DecodeSequences; i++) seqs.Add(new SequenceWork(1, DecodeContext));
                break;
            case Phase.Idle:
                break;
        }
        return new IterationComposition(seqs);
    }

    public override string ToString() => Phase switch
    {
        Phase.Prefill => $"prefill b={BatchSize} new={NewTokens} ctx={ContextTokens}",
        Phase.Decode => $"decode b={BatchSize} ctx={ContextTokens}",
        Phase.Mixed => $"mixed b={BatchSize} new={NewTokens} ctx={ContextTokens} + {DecodeSequences} decodes at {DecodeContext}",
        _ => "idle",
    };
}

/// <summary>Read-only telemetry of one GPU that the measurement protocol samples (NVML on real hardware, a fake in tests).</summary>
public interface IGpuTelemetry
{
    string Name { get; }
    string Uuid { get; }
    string DriverVersion { get; }
    string CudaVersion { get; }
    double PowerLimitWatts { get; }
    /// <summary>Cumulative energy since driver load, in millijoules (NVML total-energy counter; updates about every 100 ms).</summary>
    ulong TotalEnergyMillijoules();
    double PowerWatts();
    uint SmClockMHz();
    uint MemoryClockMHz();
    uint TemperatureC();
    /// <summary>NVML clock-event (throttle) reason bit mask.</summary>
    ulong ClockEventReasons();
}

/// <summary>Clock locking for users who own their GPU and opt in explicitly; never used unless asked for.</summary>
public interface IGpuClockControl
{
    void LockSmClocks(uint minMHz, uint maxMHz);
    void ResetSmClocks();
}

/// <summary>A GPU workload that executes one iteration composition repeatedly; the calibration engine implements it.</summary>
public interface IIterationWorkload : IDisposable
{
    /// <summary>Whether the composition fits in device memory; <paramref name="reason"/> says why not.</summary>
    bool Fits(IterationComposition composition, out string? reason);
    /// <summary>Allocates buffers, fills the KV cache to the needed context and builds graphs for this composition.</summary>
    void Prepare(IterationComposition composition);
    /// <summary>Enqueues <paramref name="iterations"/> iterations of the prepared composition without waiting.</summary>
    void Enqueue(int iterations);
    /// <summary>Blocks until all enqueued work has finished on the device.</summary>
    void Synchronize();
}
