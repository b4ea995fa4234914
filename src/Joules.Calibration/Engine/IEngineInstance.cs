using Joules.Cuda;
using Joules.Profiles;

namespace Joules.Calibration.Engine;

/// <summary>One GPU of an engine: its context and the stream its iterations run on.</summary>
public sealed record EngineDevice(CudaContext Context, CudaStream Stream);

/// <summary>What the benchmark and the calibrator drive: one shard on one GPU, or a whole tensor-parallel instance on several.</summary>
public interface IEngineInstance : IIterationWorkload
{
    /// <summary>The per-GPU shapes of the model (the same on every GPU of an instance).</summary>
    ModelShard Shard { get; }
    /// <summary>GPUs the engine runs on.</summary>
    int Gpus { get; }
    /// <summary>True for a whole tensor-parallel instance (every GPU, communication included); false for one GPU's shard run alone.</summary>
    bool WholeInstance { get; }
    /// <summary>Each GPU's context and stream, rank order.</summary>
    IReadOnlyList<EngineDevice> Devices { get; }
    string DeviceName { get; }
    /// <summary>The prepared composition, if any.</summary>
    IterationComposition? Composition { get; }
    /// <summary>Whether the prepared composition replays through CUDA graphs.</summary>
    bool UsesGraph { get; }
    /// <summary>Greedy next tokens of the last executed iteration, one per sequence.</summary>
    int[] NextTokens();
    /// <summary>Why prefill attention runs Joules' kernel although cuDNN loads (auto, when cuDNN cannot build this shard's graphs); null otherwise.</summary>
    string? CudnnFallback => null;
}
