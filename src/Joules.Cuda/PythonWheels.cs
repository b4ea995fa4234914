namespace Joules.Cuda;

/// <summary>Finds NVIDIA libraries that Python wheels ship (nvidia-nccl-cu13, nvidia-cudnn-cu13, ...) under <c>site-packages/nvidia/</c> of the machine's Python installations, so nothing has to be installed for Joules.</summary>
public static class PythonWheels
{
    /// <summary>Everything to try loading for one library, in order: the override (a file, or a folder holding one of <paramref name="fileNames"/>) alone when set; else the bare names (the loader's own search) and then the wheels' copies.</summary>
    /// <exception cref="DllNotFoundException">The override names a file or folder that does not exist or holds none of the names.</exception>
    public static IReadOnlyList<string> Candidates(string variable, IReadOnlyList<string> fileNames, string? overrideValue, IEnumerable<string> prefixes)
    {
        if (!string.IsNullOrWhiteSpace(overrideValue))
        {
            if (File.Exists(overrideValue)) return [Path.GetFullPath(overrideValue)];
            if (Directory.Exists(overrideValue))
            {
                foreach (var n in fileNames)
                    if (File.Exists(Path.Combine(overrideValue, n))) return [Path.GetFullPath(Path.Combine(overrideValue, n))];
                throw new DllNotFoundException($"{variable}={overrideValue}: the folder holds no {string.Join(" or ", fileNames)}");
            }
            throw new DllNotFoundException($"{variable}={overrideValue}: no such file or folder");
        }
        var list = new List<string>(fileNames);
        foreach (var path in Search(prefixes, fileNames))
            if (!list.Contains(path)) list.Add(path);
        return list;
    }

    /// <summary>Files named like one of <paramref name="fileNames"/> (the first name preferred within each folder) under <c>lib/python3*/{site,dist}-packages/nvidia/</c> of each prefix, at most three folders deep.</summary>
    public static IEnumerable<string> Search(IEnumerable<string> prefixes, IReadOnlyList<string> fileNames)
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
                var found = Directory.EnumerateFiles(nvidia, "*.so*", new EnumerationOptions
                {
                    RecurseSubdirectories = true, MaxRecursionDepth = 3, IgnoreInaccessible = true,
                }).Where(f => fileNames.Contains(Path.GetFileName(f)))
                  .OrderBy(f => Rank(fileNames, Path.GetFileName(f))).ThenBy(f => f, StringComparer.Ordinal);
                foreach (var f in found)
                    if (seen.Add(f)) yield return f;
            }
        }
    }

    private static int Rank(IReadOnlyList<string> names, string name)
    {
        for (var i = 0; i < names.Count; i++) if (names[i] == name) return i;
        return names.Count;
    }

    /// <summary>Python prefixes of this machine: active virtual environment and conda, the prefix of every python3 on PATH, then common install locations.</summary>
    public static IReadOnlyList<string> Prefixes()
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
