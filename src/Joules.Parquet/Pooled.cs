using System.Buffers;
using System.Runtime.CompilerServices;

namespace Joules.Parquet;

/// <summary>Scratch arrays from the shared array pool, so a process that reads or writes file after file reuses the same buffers instead of leaving large garbage behind each one.</summary>
internal static class Pooled
{
    /// <summary>Makes <paramref name="buffer"/> hold at least <paramref name="n"/> items, trading it for a larger pooled array when it is too small (contents are not kept).</summary>
    public static T[] Ensure<T>(ref T[] buffer, int n)
    {
        if (buffer.Length >= n) return buffer;
        Return(ref buffer);
        buffer = ArrayPool<T>.Shared.Rent(n);
        return buffer;
    }

    /// <summary>Gives <paramref name="buffer"/> back to the pool (cleared when it holds references) and leaves an empty array in its place.</summary>
    public static void Return<T>(ref T[] buffer)
    {
        if (buffer.Length > 0) ArrayPool<T>.Shared.Return(buffer, clearArray: RuntimeHelpers.IsReferenceOrContainsReferences<T>());
        buffer = [];
    }
}
