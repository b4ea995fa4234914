using Joules.Calibration.Engine;
using Xunit;

namespace Joules.Calibration.Tests;

/// <summary>The host side of cuDNN attention: which batches are plain, and the lengths, ragged offsets and page table cuDNN reads.</summary>
public class CudnnAttentionMetadataTests
{
    [Fact]
    public void OnlyPromptsOfOneLengthBackToBackWithoutACacheAreAPlainBatch()
    {
        Assert.True(CudnnAttentionMetadata.IsPlainBatch([0, 200, 400], [200, 200, 200], paged: false));
        Assert.True(CudnnAttentionMetadata.IsPlainBatch([37], [333], paged: false));   // one prompt anywhere in the rows
        Assert.False(CudnnAttentionMetadata.IsPlainBatch([0, 200, 400], [200, 200, 200], paged: true));
        Assert.False(CudnnAttentionMetadata.IsPlainBatch([0, 200, 401], [200, 200, 200], paged: false)); // a decode row between them
        Assert.False(CudnnAttentionMetadata.IsPlainBatch([0, 37], [37, 64], paged: false));
    }

    [Fact]
    public void FreshPromptsGetTheirLengthsTwiceAndElementOffsetsOfTheirRows()
    {
        // Three prompts with a decode row (token 101) between the second and third: offsets follow the rows, not a packing.
        var m = CudnnAttentionMetadata.Build([0, 37, 102], [37, 64, 1], rowWidth: 10, outputWidth: 4, paged: null);
        Assert.Equal([37, 64, 1, 37, 64, 1, 0, 370, 1020, 1030, 0, 148, 408, 412], m.Values);
        Assert.Equal((3, 6, 10, 14), (m.KeyLengths, m.RowOffsets, m.OutputOffsets, m.PageTable));
    }

    [Fact]
    public void ChunksOverACacheSeeTheirContextAsKeysAndCarryTheirPages()
    {
        const int pageSize = 16, maxPages = 5;
        // The engine's block table for three sequences (the middle one a decode that cuDNN does not see).
        int[] table = [7, 3, 9, 0, 0,   1, 0, 0, 0, 0,   4, 8, 2, 6, 5];
        int[] contexts = [20, 40, 50], newTokens = [12, 1, 22];
        var paged = PagedKv.ForChunks(table, maxPages, [0, 2], contexts, newTokens, totalPages: 10, pageSize);
        // 32 and 72 keys: 2 and 5 pages; the table is cut to the longer one's 5 columns, the shorter row padded.
        Assert.Equal(5, paged.PagesPerSequence);
        Assert.Equal([7, 3, 0, 0, 0, 4, 8, 2, 6, 5], paged.PageTable);
        Assert.Equal([20, 50], paged.Contexts);
        var m = CudnnAttentionMetadata.Build([0, 13], [12, 22], rowWidth: 10, outputWidth: 4, paged);
        Assert.Equal([12, 22], m.Values[..2]);
        Assert.Equal([32, 72], m.Values[2..4]);
        Assert.Equal(paged.PageTable, m.Values[m.PageTable..]);
    }
}
