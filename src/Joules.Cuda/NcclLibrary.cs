namespace Joules.Cuda;

/// <summary>Finds libnccl.so.2 without installing anything: an explicit override, then the loader's own search, then the NCCL that Python packages (nvidia-nccl-cu13 / -cu12) ship.</summary>
/// <remarks>
/// Order: <see cref="OverrideVariable"/> (a file, or a folder holding the library); the soname through the
/// dynamic loader (LD_LIBRARY_PATH and the ldconfig cache) and the CUDA folders of <see cref="NativeLibraries.ExtraDirectories"/>;
/// then <c>site-packages/nvidia/**/libnccl.so.2</c> under every Python prefix in <see cref="PythonPrefixes"/>
/// (virtual environments, conda, the prefix of each python3 on PATH, /opt/torch/.venv, /usr/local, /usr, ~/.local).
/// </remarks>
public static class NcclLibrary
{
    /// <summary>Environment variable naming the NCCL library file (or its folder) to load instead of searching.</summary>
    public const string OverrideVariable = "JOULES_NCCL_LIBRARY";

    /// <summary>File names of NCCL 2, the soname first.</summary>
    public static IReadOnlyList<string> FileNames { get; } = ["libnccl.so.2", "libnccl.so"];

    /// <summary>Everything to try loading, in order: names resolved by the loader, or full paths.</summary>
    /// <param name="overrideValue">The value of <see cref="OverrideVariable"/> (null or empty when unset).</param>
    /// <param name="pythonPrefixes">Python installation prefixes whose site-packages are searched.</param>
    /// <exception cref="DllNotFoundException">The override names a file or folder that does not exist or holds no NCCL.</exception>
    public static IReadOnlyList<string> Candidates(string? overrideValue, IEnumerable<string> pythonPrefixes) =>
        PythonWheels.Candidates(OverrideVariable, FileNames, overrideValue, pythonPrefixes);

    /// <summary>Candidates for this process: its environment and the Python prefixes found on this machine.</summary>
    public static IReadOnlyList<string> Candidates() =>
        Candidates(Environment.GetEnvironmentVariable(OverrideVariable), PythonPrefixes());

    /// <summary>NCCL libraries inside the site-packages (or dist-packages) of the given Python prefixes, soname first within each.</summary>
    public static IEnumerable<string> SearchSitePackages(IEnumerable<string> prefixes) => PythonWheels.Search(prefixes, FileNames);

    /// <summary>Python prefixes of this machine (see <see cref="PythonWheels.Prefixes"/>).</summary>
    public static IReadOnlyList<string> PythonPrefixes() => PythonWheels.Prefixes();
}
