using System.IO.Compression;
using Joules.Parquet.Format;

namespace Joules.Parquet.Codecs;

/// <summary>Page compression and decompression for every codec the library handles.</summary>
internal static unsafe class Compression
{
    /// <summary>Decompresses a whole page into <paramref name="dst"/>, which has exactly the declared uncompressed size; anything else is corruption.</summary>
    public static void Decompress(CompressionCodec codec, ReadOnlySpan<byte> src, Span<byte> dst)
    {
        // Nothing to produce: writers differ on whether an empty page body is an empty or a tiny codec stream.
        if (dst.Length == 0 && (codec != CompressionCodec.Uncompressed || src.Length == 0)) return;
        if (src.Length == 0) throw new ParquetFormatException($"page body is empty but declares {dst.Length} uncompressed bytes");
        switch (codec)
        {
            case CompressionCodec.Uncompressed:
                if (src.Length != dst.Length) throw new ParquetFormatException($"uncompressed page has {src.Length} bytes but declares {dst.Length}");
                src.CopyTo(dst);
                return;
            case CompressionCodec.Snappy:
                DecompressSnappy(src, dst);
                return;
            case CompressionCodec.Gzip:
                DecompressGzip(src, dst);
                return;
            case CompressionCodec.Zstd:
                DecompressZstd(src, dst);
                return;
            case CompressionCodec.Brotli:
            {
                if (!BrotliDecoder.TryDecompress(src, dst, out int written) || written != dst.Length)
                    throw new ParquetFormatException($"corrupt BROTLI page (decoded {written} of {dst.Length} bytes)");
                return;
            }
            case CompressionCodec.Lz4Raw:
                DecompressLz4Raw(src, dst);
                return;
            default:
                throw new ParquetFormatException($"compression codec {codec.ToString().ToUpperInvariant()} is not supported") { IsNotSupported = true };
        }
    }

    private static void DecompressSnappy(ReadOnlySpan<byte> src, Span<byte> dst)
    {
        int written;
        try
        {
            int declared = Snappier.Snappy.GetUncompressedLength(src);
            if (declared != dst.Length) throw new ParquetFormatException($"corrupt SNAPPY page: block holds {declared} bytes, page declares {dst.Length}");
            written = Snappier.Snappy.Decompress(src, dst);
        }
        catch (Exception e) when (e is InvalidDataException or ArgumentException or IndexOutOfRangeException)
        {
            throw new ParquetFormatException($"corrupt SNAPPY page: {e.Message}", e);
        }
        if (written != dst.Length) throw new ParquetFormatException($"corrupt SNAPPY page: decoded {written} bytes, page declares {dst.Length}");
    }

    private static void DecompressGzip(ReadOnlySpan<byte> src, Span<byte> dst)
    {
        try
        {
            fixed (byte* p = src)
            {
                using var ms = new UnmanagedMemoryStream(p, src.Length);
                // GZipStream reads every concatenated member, as some writers emit several per page.
                using var gz = new GZipStream(ms, CompressionMode.Decompress);
                int total = 0;
                while (total < dst.Length)
                {
                    int n = gz.Read(dst[total..]);
                    if (n == 0) break;
                    total += n;
                }
                if (total != dst.Length || gz.Read(stackalloc byte[1]) != 0)
                    throw new ParquetFormatException($"corrupt GZIP page: size does not match the declared {dst.Length} bytes");
            }
        }
        catch (InvalidDataException e)
        {
            throw new ParquetFormatException($"corrupt GZIP page: {e.Message}", e);
        }
    }

    private static void DecompressZstd(ReadOnlySpan<byte> src, Span<byte> dst)
    {
        nuint r;
        try
        {
            fixed (byte* s = src)
            fixed (byte* d = dst)
                // ZSTD_decompress walks every concatenated frame in the input.
                r = ZstdNative.ZSTD_decompress(d, (nuint)dst.Length, s, (nuint)src.Length);
        }
        catch (DllNotFoundException e)
        {
            throw new ParquetFormatException("ZSTD needs libzstd.so.1, which is not installed", e) { IsNotSupported = true };
        }
        if (ZstdNative.ZSTD_isError(r) != 0) throw new ParquetFormatException($"corrupt ZSTD page: {ZstdNative.ErrorName(r)}");
        if (r != (nuint)dst.Length) throw new ParquetFormatException($"corrupt ZSTD page: decoded {r} bytes, page declares {dst.Length}");
    }

    private static void DecompressLz4Raw(ReadOnlySpan<byte> src, Span<byte> dst)
    {
        int r;
        try
        {
            fixed (byte* s = src)
            fixed (byte* d = dst)
                r = Lz4Native.LZ4_decompress_safe(s, d, src.Length, dst.Length);
        }
        catch (DllNotFoundException e)
        {
            throw new ParquetFormatException("LZ4_RAW needs liblz4.so.1, which is not installed", e) { IsNotSupported = true };
        }
        if (r != dst.Length) throw new ParquetFormatException($"corrupt LZ4_RAW page (decoded {r} of {dst.Length} bytes)");
    }

    /// <summary>Compresses <paramref name="src"/> into <paramref name="buffer"/> (grown as needed) and returns the compressed length.</summary>
    public static int Compress(CompressionCodec codec, ReadOnlySpan<byte> src, ref byte[] buffer, int level)
    {
        switch (codec)
        {
            case CompressionCodec.Uncompressed:
                Ensure(ref buffer, src.Length);
                src.CopyTo(buffer);
                return src.Length;
            case CompressionCodec.Snappy:
            {
                Ensure(ref buffer, Snappier.Snappy.GetMaxCompressedLength(src.Length));
                return Snappier.Snappy.Compress(src, buffer);
            }
            case CompressionCodec.Zstd:
            {
                nuint bound = ZstdNative.ZSTD_compressBound((nuint)src.Length);
                Ensure(ref buffer, checked((int)bound));
                nuint r;
                fixed (byte* s = src)
                fixed (byte* d = buffer)
                    r = ZstdNative.ZSTD_compress(d, (nuint)buffer.Length, s, (nuint)src.Length, level == 0 ? 1 : level);
                if (ZstdNative.ZSTD_isError(r) != 0) throw new InvalidOperationException($"zstd compression failed: {ZstdNative.ErrorName(r)}");
                return (int)r;
            }
            case CompressionCodec.Gzip:
            {
                var ms = new MemoryStream(src.Length / 2 + 64);
                using (var gz = new GZipStream(ms, level >= 6 ? CompressionLevel.Optimal : CompressionLevel.Fastest, leaveOpen: true))
                    gz.Write(src);
                Ensure(ref buffer, (int)ms.Length);
                ms.GetBuffer().AsSpan(0, (int)ms.Length).CopyTo(buffer);
                return (int)ms.Length;
            }
            case CompressionCodec.Brotli:
            {
                Ensure(ref buffer, BrotliEncoder.GetMaxCompressedLength(src.Length));
                if (!BrotliEncoder.TryCompress(src, buffer, out int written, level == 0 ? 4 : level, 22))
                    throw new InvalidOperationException("brotli compression failed");
                return written;
            }
            case CompressionCodec.Lz4Raw:
            {
                int bound = Lz4Native.LZ4_compressBound(src.Length);
                Ensure(ref buffer, bound);
                fixed (byte* s = src)
                fixed (byte* d = buffer)
                {
                    int r = Lz4Native.LZ4_compress_default(s, d, src.Length, buffer.Length);
                    if (r <= 0) throw new InvalidOperationException("lz4 compression failed");
                    return r;
                }
            }
            default:
                throw new NotSupportedException($"writing {codec} is not supported");
        }
    }

    private static void Ensure(ref byte[] buffer, int size)
    {
        if (buffer.Length < size) buffer = new byte[Math.Max(size, buffer.Length * 2)];
    }
}
