using System.Runtime.InteropServices;

namespace Joules.Parquet.Codecs;

/// <summary>P/Invoke bindings to the system zstd library.</summary>
internal static unsafe class ZstdNative
{
    private const string Lib = "libzstd.so.1";

    [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
    public static extern nuint ZSTD_decompress(byte* dst, nuint dstCapacity, byte* src, nuint compressedSize);

    [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
    public static extern nuint ZSTD_compress(byte* dst, nuint dstCapacity, byte* src, nuint srcSize, int compressionLevel);

    [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
    public static extern nuint ZSTD_compressBound(nuint srcSize);

    [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
    public static extern uint ZSTD_isError(nuint code);

    [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
    public static extern nint ZSTD_getErrorName(nuint code);

    public static string ErrorName(nuint code) => Marshal.PtrToStringAnsi(ZSTD_getErrorName(code)) ?? "unknown zstd error";
}

/// <summary>P/Invoke bindings to the system LZ4 library (block format, used by LZ4_RAW).</summary>
internal static unsafe class Lz4Native
{
    private const string Lib = "liblz4.so.1";

    [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
    public static extern int LZ4_decompress_safe(byte* src, byte* dst, int compressedSize, int dstCapacity);

    [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
    public static extern int LZ4_compress_default(byte* src, byte* dst, int srcSize, int dstCapacity);

    [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
    public static extern int LZ4_compressBound(int inputSize);
}
