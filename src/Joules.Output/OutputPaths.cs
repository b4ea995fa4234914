namespace Joules.Output;

/// <summary>Decides whether an output path names the same file as an input, after resolving relative paths and symbolic links, so a command can work through a temporary file or refuse before touching anything.</summary>
public static class OutputPaths
{
    private const int MaxLinks = 40;

    private static StringComparison Comparison =>
        OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;

    /// <summary>The absolute form of <paramref name="path"/> with every symbolic link along it resolved (for the parts that exist). Two paths name the same file when their resolved forms are equal.</summary>
    /// <remarks>Hard links are not detected: .NET exposes no file identity (device and inode) to compare.</remarks>
    public static string Resolve(string path) =>
        string.IsNullOrWhiteSpace(path) ? throw new OutputRefusedException("no output path given (an empty name)") : Resolve(Path.GetFullPath(path), 0);

    private static string Resolve(string full, int depth)
    {
        var root = Path.GetPathRoot(full) ?? "";
        var parts = full[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries);
        var current = root;
        for (var i = 0; i < parts.Length; i++)
        {
            var next = Path.Combine(current, parts[i]);
            FileSystemInfo info = Directory.Exists(next) ? new DirectoryInfo(next) : new FileInfo(next);
            if (info.Exists && info.LinkTarget is not null)
            {
                if (depth >= MaxLinks) throw new IOException($"{full}: too many levels of symbolic links");
                var target = info.ResolveLinkTarget(returnFinalTarget: true);
                // A dangling link resolves to where it points; the target's own folders may be links too.
                var targetPath = target?.FullName ?? Path.GetFullPath(info.LinkTarget, current);
                next = Resolve(targetPath, depth + 1);
            }
            current = next;
        }
        return current;
    }

    /// <summary>True when <paramref name="a"/> and <paramref name="b"/> name the same file or folder.</summary>
    public static bool SameFile(string a, string b) => string.Equals(Resolve(a), Resolve(b), Comparison);

    /// <summary>The first of <paramref name="inputs"/> that is the same file as <paramref name="output"/>, or null when none is.</summary>
    public static string? FindInput(string output, IEnumerable<string> inputs)
    {
        var target = Resolve(output);
        return inputs.FirstOrDefault(i => string.Equals(Resolve(i), target, Comparison));
    }

    /// <summary>The first of <paramref name="inputs"/> that is <paramref name="directory"/> itself or lies inside it, or null: replacing that folder would delete the input.</summary>
    public static string? FindInputWithin(string directory, IEnumerable<string> inputs)
    {
        var dir = Resolve(directory).TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar;
        return inputs.FirstOrDefault(i => (Resolve(i) + Path.DirectorySeparatorChar).StartsWith(dir, Comparison));
    }

    /// <summary>Throws <see cref="OutputRefusedException"/> when <paramref name="output"/> is one of <paramref name="inputs"/>: for outputs that cannot be written through a temporary file (for example when the input is read again after the output is in place).</summary>
    public static void RefuseIfInput(string output, IEnumerable<string> inputs)
    {
        if (FindInput(output, inputs) is { } input)
            throw new OutputRefusedException($"{output} is also an input ({input}); write to another file. Nothing was written.");
    }
}
