using System.Diagnostics;
using System.Globalization;

namespace Joules.Output;

/// <summary>Names of the temporary files and folders the writers make beside a destination, and the sweep that removes those left by a process that was killed.</summary>
internal static class Leftovers
{
    /// <summary>A fresh name: <c>{name}{marker}{pid}-{random}</c>, so a leftover says what it was for and which process made it.</summary>
    public static string NewName(string name, string marker) =>
        $"{name}{marker}{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}-{Guid.NewGuid().ToString("N")[..8]}";

    /// <summary>Entries of <paramref name="folder"/> named for <paramref name="name"/> with <paramref name="marker"/> whose process is no longer running.</summary>
    public static IEnumerable<string> Stale(string folder, string name, string marker)
    {
        IEnumerable<string> entries;
        try { entries = Directory.EnumerateFileSystemEntries(folder, name + marker + "*").ToList(); }
        catch (IOException) { yield break; }
        catch (UnauthorizedAccessException) { yield break; }
        foreach (var entry in entries)
        {
            var rest = Path.GetFileName(entry)[(name.Length + marker.Length)..];
            var dash = rest.IndexOf('-');
            if (dash <= 0 || !int.TryParse(rest[..dash], NumberStyles.None, CultureInfo.InvariantCulture, out var pid)) continue;
            if (!IsRunning(pid)) yield return entry;
        }
    }

    private static bool IsRunning(int pid)
    {
        if (pid == Environment.ProcessId) return true;
        try
        {
            using var p = Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException) { return false; }
        catch (InvalidOperationException) { return false; }
    }

    /// <summary>Creates <paramref name="folder"/> and any missing parents; returns the top-most folder it created (to remove again on failure), or null when it existed.</summary>
    public static string? CreateFolders(string folder)
    {
        string? top = null;
        for (var d = folder; !string.IsNullOrEmpty(d) && !Directory.Exists(d); d = Path.GetDirectoryName(d)) top = d;
        if (top is not null) Directory.CreateDirectory(folder);
        return top;
    }

    /// <summary>Removes the folders <see cref="CreateFolders"/> made, innermost first, as long as they are empty.</summary>
    public static void RemoveCreatedFolders(string? top, string folder)
    {
        if (top is null) return;
        for (var d = folder; d is not null && d.Length >= top.Length; d = Path.GetDirectoryName(d))
        {
            try
            {
                if (Directory.EnumerateFileSystemEntries(d).Any()) return;
                Directory.Delete(d);
            }
            catch (IOException) { return; }
            catch (UnauthorizedAccessException) { return; }
        }
    }

    public static void TryDeleteFile(string path)
    {
        try { File.Delete(path); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    public static void TryDeleteFolder(string path)
    {
        try { if (Directory.Exists(path)) Directory.Delete(path, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
