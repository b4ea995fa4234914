using Joules.Profiles;

namespace Joules.Serving.Loop;

/// <summary>One iteration of the real-time loop, for the iteration log and the host-overhead figures.</summary>
/// <param name="StartS">Loop clock when the engine was called.</param>
/// <param name="EngineS">Wall time of the engine call (upload, kernels, copy-back).</param>
/// <param name="DeviceS">The device's part of it (GPU events; the cost model's price for the sim engine).</param>
/// <param name="GapS">Host time since the previous iteration's engine call returned, while work was waiting (its commit and streaming, then scheduling this one); NaN after an idle wait.</param>
/// <param name="Shape">The iteration's shape, as a cost model prices it.</param>
/// <param name="PredictedS">The cost model's time for the shape (NaN without one).</param>
/// <param name="PredictedJ">The cost model's energy for it (NaN without one).</param>
/// <param name="Preempted">Sequences preempted while forming it.</param>
/// <param name="Graph">Whether it replayed a CUDA graph.</param>
/// <param name="MaxDecodeContext">Longest context of its decodes (the new token included; 0 without decodes): decode attention waits for the longest sequence, while the shape carries only the sum.</param>
public readonly record struct IterationRecord(double StartS, double EngineS, double DeviceS, double GapS, IterationShape Shape,
    double PredictedS, double PredictedJ, int Preempted, bool Graph, int MaxDecodeContext = 0)
{
    /// <summary>Host time this iteration added beyond the device: the gap before it and the engine's own overhead.</summary>
    public double HostS => (double.IsNaN(GapS) ? 0 : GapS) + Math.Max(0, EngineS - DeviceS);
}

/// <summary>Receives every iteration the loop runs (on the loop thread: keep it cheap).</summary>
public interface IIterationObserver
{
    void OnIteration(in IterationRecord record);
}
