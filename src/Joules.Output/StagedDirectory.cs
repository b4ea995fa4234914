namespace Joules.Output;

/// <summary>
/// An output folder built in a sibling staging folder and swapped in whole by <see cref="Commit"/>, so files of an
/// earlier run never sit beside new ones and a failed or interrupted run leaves the previous folder untouched.
/// </summary>
/// <remarks>
/// Staging is <c>{name}.joules-staging-{pid}-{random}</c> beside the destination. The commit flushes every staged file
/// to the disk, renames the old folder aside (<c>{name}.joules-old-…</c>), renames the staging folder into place and
/// then deletes the old one; if the second rename fails the old folder is renamed back. A process killed between the
/// two renames leaves the old folder under its aside name: the next <see cref="Create"/> for the same destination puts
/// it back (or deletes it when a new folder is in place) and deletes stale staging folders.
/// Every staged folder carries a <see cref="MarkerFileName"/> file. A destination that exists, is not empty and has no
/// marker was not made by Joules and is refused, so <c>--out .</c> can never wipe a folder of the user's own files.
/// </remarks>
public sealed class StagedDirectory : IDisposable
{
    /// <summary>The file that marks a folder as a Joules output which the next run may replace whole.</summary>
    public const string MarkerFileName = ".joules-output";

    public const string StagingMarker = ".joules-staging-";
    public const string OldMarker = ".joules-old-";

    private readonly object _gate = new();
    private readonly CancellationToken _cancel;
    private readonly string? _createdFolder;
    private bool _committed;
    private bool _disposed;

    private StagedDirectory(string path, string stagingPath, bool existed, string? createdFolder, CancellationToken cancel)
    {
        Path = path;
        StagingPath = stagingPath;
        Existed = existed;
        _createdFolder = createdFolder;
        _cancel = cancel;
    }

    /// <summary>The destination folder (symbolic links resolved).</summary>
    public string Path { get; }

    /// <summary>The folder to write into until <see cref="Commit"/>.</summary>
    public string StagingPath { get; }

    /// <summary>Whether the destination existed before; it stays untouched unless the commit happens.</summary>
    public bool Existed { get; }

    public bool Committed => _committed;

    /// <summary>One clause for an interruption message: what became of this destination.</summary>
    public string NotWrittenMessage =>
        Existed ? $"{Path} was not written; the previous folder is unchanged" : $"{Path} was not written";

    /// <summary>Makes the staging folder for <paramref name="path"/>. Refuses a path that is a file, or an existing non-empty folder without the Joules marker.</summary>
    public static StagedDirectory Create(string path, CancellationToken cancel = default)
    {
        if (string.IsNullOrWhiteSpace(path)) throw new OutputRefusedException("no output folder given");
        var target = OutputPaths.Resolve(path).TrimEnd(System.IO.Path.DirectorySeparatorChar);
        if (File.Exists(target)) throw new OutputRefusedException($"{path} is a file; give a folder for the outputs. Nothing was written.");
        var parent = System.IO.Path.GetDirectoryName(target) ?? throw new OutputRefusedException($"{path}: a file system root cannot be an output folder");
        var name = System.IO.Path.GetFileName(target);
        cancel.ThrowIfCancellationRequested();
        Recover(parent, name, target);
        var existed = Directory.Exists(target);
        if (existed && !File.Exists(System.IO.Path.Combine(target, MarkerFileName)) && Directory.EnumerateFileSystemEntries(target).Any())
            throw new OutputRefusedException(
                $"{path} already holds files that joules did not write (it has no {MarkerFileName} marker), and an output folder is replaced whole; " +
                "give a new or empty folder. Nothing was written.");
        string? created;
        try { created = Leftovers.CreateFolders(parent); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new OutputRefusedException($"{path}: cannot make the folder {parent}: {Why(parent, e)}. Nothing was written.");
        }
        var staging = System.IO.Path.Combine(parent, Leftovers.NewName(name, StagingMarker));
        try
        {
            Directory.CreateDirectory(staging);
            File.WriteAllText(System.IO.Path.Combine(staging, MarkerFileName),
                "This folder was written by joules. The next run that writes its outputs here replaces the whole folder.\n");
        }
        catch (Exception e)
        {
            Leftovers.TryDeleteFolder(staging);
            Leftovers.RemoveCreatedFolders(created, parent);
            // The outputs are written beside the folder and swapped in whole, so its parent must be writable too.
            if (e is IOException or UnauthorizedAccessException)
                throw new OutputRefusedException($"{path}: cannot write in {parent}, where the outputs are staged before they replace the folder whole: {Why(parent, e)}. Nothing was written.");
            throw;
        }
        return new StagedDirectory(target, staging, existed, created, cancel);
    }

    // The reason in words: a path component that is a file, or no permission.
    private static string Why(string folder, Exception e)
    {
        for (var d = folder; !string.IsNullOrEmpty(d); d = System.IO.Path.GetDirectoryName(d))
            if (File.Exists(d)) return $"{d} is a file";
        return e is UnauthorizedAccessException ? "permission denied" : "the file system refused";
    }

    /// <summary>Puts back a previous folder a killed commit left aside, and deletes stale staging and aside folders.</summary>
    private static void Recover(string parent, string name, string target)
    {
        if (!Directory.Exists(parent)) return;
        foreach (var old in Leftovers.Stale(parent, name, OldMarker))
        {
            if (!Directory.Exists(target))
            {
                try { Directory.Move(old, target); continue; }
                catch (IOException) { }
            }
            Leftovers.TryDeleteFolder(old);
        }
        foreach (var staging in Leftovers.Stale(parent, name, StagingMarker)) Leftovers.TryDeleteFolder(staging);
    }

    /// <summary>The staged path of a file inside the output (for example "summary.json" or "scenario-a/requests.parquet"); it may not leave the folder.</summary>
    public string PathFor(string relative)
    {
        var p = System.IO.Path.GetFullPath(System.IO.Path.Combine(StagingPath, relative));
        if (!p.StartsWith(StagingPath + System.IO.Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new ArgumentException($"'{relative}' is not a path inside the output folder");
        var folder = System.IO.Path.GetDirectoryName(p)!;
        Directory.CreateDirectory(folder);
        return p;
    }

    /// <summary>Flushes every staged file to the disk and swaps the staging folder in for <see cref="Path"/>. Throws <see cref="OperationCanceledException"/>, leaving the destination as it was, when cancellation came first.</summary>
    public void Commit()
    {
        lock (_gate)
        {
            if (_committed || _disposed) throw new InvalidOperationException($"{Path}: the output folder was already {(_committed ? "committed" : "abandoned")}");
            _cancel.ThrowIfCancellationRequested();
            foreach (var file in Directory.EnumerateFiles(StagingPath, "*", SearchOption.AllDirectories))
            {
                using var f = new FileStream(file, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
                f.Flush(flushToDisk: true);
            }
            _cancel.ThrowIfCancellationRequested();
            var parent = System.IO.Path.GetDirectoryName(Path)!;
            string? aside = null;
            if (Directory.Exists(Path))
            {
                aside = System.IO.Path.Combine(parent, Leftovers.NewName(System.IO.Path.GetFileName(Path), OldMarker));
                Directory.Move(Path, aside);
            }
            try
            {
                Directory.Move(StagingPath, Path);
            }
            catch
            {
                if (aside is not null) Directory.Move(aside, Path);
                throw;
            }
            _committed = true;
            if (aside is not null) Leftovers.TryDeleteFolder(aside);
        }
    }

    /// <summary>Without a commit: deletes the staging folder (and any folders <see cref="Create"/> made); the destination is untouched.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_committed || _disposed) return;
            _disposed = true;
            Leftovers.TryDeleteFolder(StagingPath);
            Leftovers.RemoveCreatedFolders(_createdFolder, System.IO.Path.GetDirectoryName(Path)!);
        }
    }
}
