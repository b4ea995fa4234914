using System.Text.Unicode;

namespace Joules.Traces.Import;

/// <summary>Tells what a file given as a trace really is from its first and last bytes (never its extension), and refuses with a clear message what no importer can read: a folder, an empty file, a truncated Parquet file, compressed or other binary data.</summary>
internal static class FileKind
{
    private const int Probe = 8192;

    public static TraceFile.Container Detect(string path)
    {
        if (Directory.Exists(path))
        {
            var traces = Directory.EnumerateFiles(path).Where(f => f.EndsWith(".parquet", StringComparison.OrdinalIgnoreCase)
                || f.EndsWith(".csv", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase))
                .Select(Path.GetFileName).Order(StringComparer.Ordinal).Take(4).ToList();
            throw new InvalidDataException($"{path} is a folder, not a trace file; give one file" +
                (traces.Count > 0 ? $" (it holds {string.Join(", ", traces)}{(traces.Count == 4 ? ", …" : "")})" : ""));
        }
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such file", path);
        // A pipe or FIFO shows 0 bytes before it is opened (opening a FIFO would wait for a writer, deaf to Ctrl-C): a
        // trace is read more than once (sniffed, then streamed), so it must be a file.
        if (new FileInfo(path).Length == 0)
            throw new InvalidDataException($"{path} is empty (0 bytes), or not a regular file: a pipe or FIFO cannot be read twice; save the trace to a file first");
        using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1);
        if (!f.CanSeek) throw new InvalidDataException($"{path} is not a regular file: a pipe cannot be read twice; save the trace to a file first");
        var length = f.Length;
        var head = new byte[(int)Math.Min(Probe, length)];
        f.ReadExactly(head);
        if (head.AsSpan().StartsWith("PAR1"u8))
        {
            Span<byte> tail = stackalloc byte[4];
            if (length >= 12)
            {
                f.Position = length - 4;
                f.ReadExactly(tail);
            }
            if (length < 12 || !tail.SequenceEqual("PAR1"u8))
                throw new InvalidDataException($"{path} starts like a Parquet file but has no footer ({length:N0} bytes): it is truncated, or still being written");
            return TraceFile.Container.Parquet;
        }
        if (Compression(head) is { } kind)
            throw new InvalidDataException($"{path} is {kind}, not a trace; decompress it first (trace files are Parquet, CSV or JSON Lines)");
        if (IsBinary(head, complete: length <= Probe))
            throw new InvalidDataException($"{path} is a binary file, not a trace: not Parquet (no PAR1 magic bytes) and not CSV or JSON Lines text");
        var i = 0;
        // Skip a UTF-8 byte-order mark and leading whitespace to see whether the first record is a JSON object.
        if (head.AsSpan().StartsWith(Bom)) i = 3;
        while (i < head.Length && head[i] is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n') i++;
        if (i == head.Length && length <= Probe) throw new InvalidDataException($"{path} holds only white space: no header and no requests");
        return i < head.Length && head[i] == '{' ? TraceFile.Container.JsonLines : TraceFile.Container.Csv;
    }

    private static ReadOnlySpan<byte> Bom => [0xEF, 0xBB, 0xBF];
    private static ReadOnlySpan<byte> Gzip => [0x1F, 0x8B];
    private static ReadOnlySpan<byte> Zstd => [0x28, 0xB5, 0x2F, 0xFD];
    private static ReadOnlySpan<byte> Xz => [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00];

    private static string? Compression(ReadOnlySpan<byte> h) =>
        h.StartsWith(Gzip) ? "gzip-compressed (gunzip it)"
        : h.StartsWith(Zstd) ? "zstd-compressed (zstd -d)"
        : h.StartsWith("PK\u0003\u0004"u8) ? "a zip archive (unzip it)"
        : h.StartsWith("BZh"u8) && h.Length > 3 && h[3] is >= (byte)'1' and <= (byte)'9' ? "bzip2-compressed (bunzip2 it)"
        : h.StartsWith(Xz) ? "xz-compressed (unxz it)"
        : null;

    /// <summary>Text has no NUL bytes and is valid UTF-8 (a multi-byte character cut by the probe's end is allowed).</summary>
    private static bool IsBinary(ReadOnlySpan<byte> head, bool complete)
    {
        if (head.Contains((byte)0)) return true;
        if (Utf8.IsValid(head)) return false;
        if (complete) return true;
        for (var cut = 1; cut <= 3 && cut < head.Length; cut++)
            if (Utf8.IsValid(head[..^cut])) return false;
        return true;
    }
}
