namespace Joules.Output;

/// <summary>
/// A file written under a temporary name in its destination's folder and renamed over the destination only by
/// <see cref="Commit"/>: anyone reading the destination sees the previous file or the whole new one, never a part.
/// </summary>
/// <remarks>
/// The temporary file is <c>{name}.joules-partial-{pid}-{random}</c> beside the destination (the same file system, so the
/// rename is atomic). It is deleted by <see cref="Dispose"/> without a commit, and at once when the cancellation token
/// fires, so an interrupted run leaves the previous file untouched and nothing under the final name. A process killed
/// outright leaves its partial file behind; the next <see cref="Create"/> for the same destination deletes it.
/// When the destination is a symbolic link, the file it points to is replaced and the link kept.
/// </remarks>
public sealed class AtomicFile : IDisposable
{
    /// <summary>What the temporary file's name carries after the destination's name.</summary>
    public const string PartialMarker = ".joules-partial-";

    private enum State { Open, Committed, Abandoned }

    private readonly object _gate = new();
    private readonly FileStream _stream;
    private readonly CancellationToken _cancel;
    private readonly string? _createdFolder;
    private CancellationTokenRegistration _registration;
    private State _state;

    private AtomicFile(string path, string tempPath, bool existed, FileStream stream, string? createdFolder, CancellationToken cancel)
    {
        Path = path;
        TempPath = tempPath;
        Existed = existed;
        _stream = stream;
        _createdFolder = createdFolder;
        _cancel = cancel;
        _registration = cancel.Register(Abandon);
    }

    /// <summary>The destination (symbolic links resolved).</summary>
    public string Path { get; }

    /// <summary>Where the bytes go until <see cref="Commit"/>.</summary>
    public string TempPath { get; }

    /// <summary>Whether a file was at <see cref="Path"/> before: it stays untouched unless the commit happens.</summary>
    public bool Existed { get; }

    /// <summary>The open temporary file to write to; closed by <see cref="Commit"/> or <see cref="Dispose"/> (writers wrapping it must leave it open).</summary>
    public Stream Stream => _stream;

    public bool Committed => _state == State.Committed;

    /// <summary>One clause for an interruption message: what became of this destination.</summary>
    public string NotWrittenMessage =>
        Existed ? $"{Path} was not written; the previous file is unchanged" : $"{Path} was not written";

    /// <summary>Opens a temporary file for <paramref name="path"/>, creating missing folders. Refuses a path that is a folder.</summary>
    public static AtomicFile Create(string path, CancellationToken cancel = default)
    {
        if (string.IsNullOrWhiteSpace(path)) throw new OutputRefusedException("no output file name given");
        var full = System.IO.Path.GetFullPath(path);
        if (Directory.Exists(full)) throw new OutputRefusedException($"{path} is a folder; give the name of a file to write. Nothing was written.");
        var target = OutputPaths.Resolve(full);
        if (Directory.Exists(target)) throw new OutputRefusedException($"{path} points to a folder ({target}); give the name of a file to write. Nothing was written.");
        cancel.ThrowIfCancellationRequested();
        var folder = System.IO.Path.GetDirectoryName(target)!;
        var name = System.IO.Path.GetFileName(target);
        var created = Leftovers.CreateFolders(folder);
        foreach (var stale in Leftovers.Stale(folder, name, PartialMarker)) Leftovers.TryDeleteFile(stale);
        var temp = System.IO.Path.Combine(folder, Leftovers.NewName(name, PartialMarker));
        FileStream stream;
        try
        {
            // FileShare.Delete lets a cancellation delete the file while a writer still holds it (Windows; POSIX always can).
            stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.Read | FileShare.Delete, 1 << 16);
        }
        catch
        {
            Leftovers.RemoveCreatedFolders(created, folder);
            throw;
        }
        return new AtomicFile(target, temp, File.Exists(target), stream, created, cancel);
    }

    /// <summary>Writes a whole file through <paramref name="write"/> and commits it; on any exception the previous file is untouched.</summary>
    public static void Write(string path, Action<Stream> write, CancellationToken cancel = default)
    {
        using var file = Create(path, cancel);
        write(file.Stream);
        file.Commit();
    }

    /// <summary>Writes text (UTF-8) atomically.</summary>
    public static void WriteAllText(string path, string text, CancellationToken cancel = default) =>
        Write(path, s =>
        {
            using var w = new StreamWriter(s, new System.Text.UTF8Encoding(false), 1 << 16, leaveOpen: true);
            w.Write(text);
        }, cancel);

    /// <summary>Flushes the bytes to the disk (fsync), closes the file and renames it over <see cref="Path"/>. Throws <see cref="OperationCanceledException"/>, leaving the destination as it was, when cancellation came first.</summary>
    public void Commit()
    {
        lock (_gate)
        {
            if (_state != State.Open)
            {
                _cancel.ThrowIfCancellationRequested();
                throw new InvalidOperationException($"{Path}: the output was already {(_state == State.Committed ? "committed" : "abandoned")}");
            }
            _cancel.ThrowIfCancellationRequested();
            _stream.Flush(flushToDisk: true);
            _stream.Dispose();
            if (Existed && !OperatingSystem.IsWindows())
            {
                // The new file keeps the permissions the user gave the old one.
                try { File.SetUnixFileMode(TempPath, File.GetUnixFileMode(Path)); }
                catch (IOException) { }
                catch (UnauthorizedAccessException) { }
            }
            File.Move(TempPath, Path, overwrite: true);
            _state = State.Committed;
        }
        // Outside the lock: disposing a registration waits for a callback that may be waiting for the lock.
        _registration.Dispose();
    }

    /// <summary>Cancellation: delete the partial file now (a writer still holding it writes into the void until it notices).</summary>
    private void Abandon()
    {
        lock (_gate)
        {
            if (_state != State.Open) return;
            _state = State.Abandoned;
            Leftovers.TryDeleteFile(TempPath);
        }
    }

    /// <summary>Without a commit: closes and deletes the temporary file (and any folders <see cref="Create"/> made); the destination is untouched.</summary>
    public void Dispose()
    {
        _registration.Dispose();
        lock (_gate)
        {
            if (_state == State.Committed) return;
            _state = State.Abandoned;
            try { _stream.Dispose(); }
            catch (IOException) { } // buffered bytes that cannot be flushed (a full disk) are being thrown away anyway
            Leftovers.TryDeleteFile(TempPath);
            Leftovers.RemoveCreatedFolders(_createdFolder, System.IO.Path.GetDirectoryName(Path)!);
        }
    }
}
