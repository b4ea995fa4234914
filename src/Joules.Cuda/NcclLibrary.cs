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
    public static IReadOnlyList<string> Candidates(string? overrideValue, IEnumerable<string> pythonPrefixes)
    {
        if (!string.IsNullOrWhiteSpace(overrideValue))
        {
            if (File.Exists(overrideValue)) return [Path.GetFullPath(overrideValue)];
            if (Directory.Exists(overrideValue))
            {
                foreach (var n in FileNames)
                    if (File.Exists(Path.Combine(overrideValue, n))) return [Path.GetFullPath(Path.Combine(overrideValue, n))];
                throw new DllNotFoundException($"{OverrideVariable}={overrideValue}: the folder holds no {string.Join(" or ", FileNames)}");
            }
            throw new DllNotFoundException($"{OverrideVariable}={overrideValue}: no such file or folder");
        }
        var list = new List<string>(FileNames);
        foreach (var path in SearchSitePackages(pythonPrefixes))
            if (!list.Contains(path)) list.Add(path);
        return list;
    }

    /// <summary>Candidates for this process: its environment and the Python prefixes found on this machine.</summary>
    public static IReadOnlyList<string> Candidates() =>
        Candidates(Environment.GetEnvironmentVariable(OverrideVariable), PythonPrefixes());

    /// <summary>NCCL libraries inside the site-packages (or dist-packages) of the given Python prefixes, soname first within each.</summary>
    public static IEnumerable<string> SearchSitePackages(IEnumerable<string> prefixes)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var prefix in prefixes)
        {
            var lib = Path.Combine(prefix, "lib");
            if (!Directory.Exists(lib)) continue;
            IEnumerable<string> pythons;
            try { pythons = Directory.EnumerateDirectories(lib, "python3*").Order(StringComparer.Ordinal).Reverse().ToArray(); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { continue; }
            foreach (var py in pythons)
            foreach (var packages in new[] { "site-packages", "dist-packages" })
            {
                var nvidia = Path.Combine(py, packages, "nvidia");
                if (!Directory.Exists(nvidia)) continue;
                var found = Directory.EnumerateFiles(nvidia, "libnccl.so*", new EnumerationOptions
                {
                    RecurseSubdirectories = true, MaxRecursionDepth = 3, IgnoreInaccessible = true,
                }).Where(f => FileNames.Contains(Path.GetFileName(f))).OrderBy(f => Path.GetFileName(f) == FileNames[0] ? 0 : 1).ThenBy(f => f, StringComparer.Ordinal);
                foreach (var f in found)
                    if (seen.Add(f)) yield return f;
            }
        }
    }

    /// <summary>Python prefixes of this machine: active virtual environment and conda, the prefix of every python3 on PATH, then common install locations.</summary>
    public static IReadOnlyList<string> PythonPrefixes()
    {
        var list = new List<string>();
        void Add(string? p)
        {
            if (string.IsNullOrWhiteSpace(p)) return;
            var full = Path.GetFullPath(p);
            if (!list.Contains(full)) list.Add(full);
        }
        Add(Environment.GetEnvironmentVariable("VIRTUAL_ENV"));
        Add(Environment.GetEnvironmentVariable("CONDA_PREFIX"));
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
            if (File.Exists(Path.Combine(dir, "python3")) && Path.GetDirectoryName(Path.GetFullPath(dir)) is { } parent) Add(parent);
        Add("/opt/torch/.venv");
        Add("/usr/local");
        Add("/usr");
        Add("/opt/conda");
        if (Environment.GetEnvironmentVariable("HOME") is { Length: > 0 } home) Add(Path.Combine(home, ".local"));
        return list;
    }
}
