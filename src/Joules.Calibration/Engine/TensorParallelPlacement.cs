using Joules.Profiles;

namespace Joules.Calibration.Engine;

/// <summary>What --tp and --gpus ask for: one GPU's shard of a tp model run alone, or the whole tp instance on tp GPUs of this host.</summary>
/// <param name="Tp">Tensor-parallel degree of the model.</param>
/// <param name="Gpus">GPUs of the whole instance (equal to <paramref name="Tp"/>), or null to run one GPU's shard without communication.</param>
public sealed record TensorParallelPlacement(int Tp, int? Gpus = null)
{
    /// <summary>Help text of the --gpus option, shared by the commands that take it.</summary>
    public const string GpusHelp =
        "Run the whole tensor-parallel instance on this many GPUs of this host (must equal --tp), NCCL all-reduces included; " +
        "without it, one GPU's shard runs alone";

    public bool WholeInstance => Gpus is not null;

    /// <summary>GPUs measured together: the instance's, or 1 for a shard.</summary>
    public int GpuCount => Gpus ?? 1;

    /// <summary>CUDA ordinals the instance uses (0..gpus-1), or device 0 for a shard.</summary>
    public IReadOnlyList<int> Devices => Enumerable.Range(0, GpuCount).ToArray();

    /// <summary>Checks the options as a user typed them; messages name the options.</summary>
    /// <exception cref="ArgumentException">tp below 1, or --gpus given and not equal to --tp.</exception>
    public static TensorParallelPlacement Parse(int tp, int? gpus)
    {
        if (tp < 1) throw new ArgumentException($"--tp must be at least 1, got {tp}");
        if (gpus is { } g && g != tp)
            throw new ArgumentException(
                $"--gpus {g} with --tp {tp}: a whole tensor-parallel instance runs on exactly --tp GPUs, so --gpus must equal --tp " +
                $"(leave --gpus out to measure one GPU's shard of tp={tp})");
        return new TensorParallelPlacement(tp, gpus);
    }

    /// <summary>Throws when the model cannot be split this way (heads, ffn or kv heads do not divide).</summary>
    public void Validate(ModelCard model)
    {
        if (WholeInstance) _ = new TensorParallelLayout(model, Tp);
        else _ = model.Shard(Tp);
    }

    /// <summary>Throws a <see cref="Measurement.CalibrationException"/> when this host has fewer GPUs than the instance needs.</summary>
    public void RequireDevices(int available)
    {
        if (GpuCount > available)
            throw new Measurement.CalibrationException(
                $"--gpus {GpuCount} needs {GpuCount} GPUs, but this machine has {available}; run on a host with {GpuCount} GPUs, or leave --gpus out to measure one GPU's shard");
    }

    /// <summary>How the run is described in progress lines.</summary>
    public string Describe(ModelCard model) => WholeInstance
        ? $"{model.Name} tp={Tp} as a whole instance on {Gpus} GPU(s)"
        : Tp > 1 ? $"{model.Name} tp={Tp} (one GPU's shard, no communication)" : model.Name;
}
