namespace Joules.Cuda;

/// <summary>Finds libcudnn.so.9 without installing anything: an explicit override, then the loader's own search, then the cuDNN that Python packages (nvidia-cudnn-cu13 / -cu12, as PyTorch installs them) ship.</summary>
public static class CudnnLibrary
{
    /// <summary>Environment variable naming the cuDNN library file (or its folder) to load instead of searching.</summary>
    public const string OverrideVariable = "JOULES_CUDNN_LIBRARY";

    /// <summary>File names of cuDNN 9, the soname first (its backend API is in libcudnn_graph, which libcudnn forwards to).</summary>
    public static IReadOnlyList<string> FileNames { get; } = ["libcudnn.so.9", "libcudnn.so"];

    /// <summary>Everything to try loading, in order (see <see cref="PythonWheels.Candidates"/>).</summary>
    public static IReadOnlyList<string> Candidates(string? overrideValue, IEnumerable<string> pythonPrefixes) =>
        PythonWheels.Candidates(OverrideVariable, FileNames, overrideValue, pythonPrefixes);

    /// <summary>Candidates for this process: its environment and the Python prefixes found on this machine.</summary>
    public static IReadOnlyList<string> Candidates() =>
        Candidates(Environment.GetEnvironmentVariable(OverrideVariable), PythonWheels.Prefixes());
}
