using Joules.Profiles;
using Xunit;

namespace Joules.Profiles.Tests;

public class CatalogTests
{
    [Theory]
    [InlineData("llama-3.1-8b", 8.0e9, 8.1e9)]
    [InlineData("llama-3.1-70b", 70.5e9, 70.7e9)]
    [InlineData("llama-3.2-1b", 1.23e9, 1.24e9)]
    [InlineData("llama-3.2-3b", 3.21e9, 3.22e9)]
    [InlineData("mistral-7b", 7.24e9, 7.26e9)]
    [InlineData("qwen2.5-7b", 7.6e9, 7.65e9)]
    public void ShippedModelCardsHaveThePublishedParameterCounts(string name, double lo, double hi)
    {
        var m = Catalog.Model(name);
        m.Validate();
        Assert.InRange(m.Parameters, lo, hi);
    }

    [Fact]
    public void Llama8bKvCacheIs128KiBPerToken()
    {
        // 2 (K,V) x 32 layers x 8 kv heads x 128 dims x 2 bytes
        Assert.Equal(131072, Catalog.Model("llama-3.1-8b").KvBytesPerToken);
    }

    [Fact]
    public void Tp8ShardOf70bSplitsHeadsAndFfn()
    {
        var s = Catalog.Model("llama-3.1-70b").Shard(8);
        Assert.Equal(8, s.Heads);
        Assert.Equal(1, s.KvHeads);
        Assert.Equal(3584, s.Ffn);
        Assert.InRange(s.WeightBytesPerGpu, 17.5e9, 17.8e9);
    }

    [Fact]
    public void UnknownModelErrorListsTheKnownOnes()
    {
        var e = Assert.Throws<KeyNotFoundException>(() => Catalog.Model("gpt-5"));
        Assert.Contains("llama-3.1-8b", e.Message);
    }

    [Fact]
    public void GpusResolveByNvmlName()
    {
        Assert.Equal("h100-sxm", Catalog.Gpu("NVIDIA H100 80GB HBM3").Name);
        Assert.Equal("h200", Catalog.Gpu("h200").Name);
        Assert.Equal("b200", Catalog.Gpu("NVIDIA B200").Name);
        Assert.Equal(["a100-sxm", "b200", "h100-sxm", "h200"], Catalog.Gpus.Keys.Order());
        // Every card cites where its figures come from (the derivation scales measured profiles by them).
        Assert.All(Catalog.Gpus.Values, g => Assert.False(string.IsNullOrWhiteSpace(g.Source), $"{g.Name} has no source"));
    }

    [Fact]
    public void IterationShapeSumsAttentionPairs()
    {
        var s = default(IterationShape).AddPrefill(4, 10).AddDecode(100).AddDecode(50);
        Assert.Equal(4, s.PrefillTokens);
        Assert.Equal(4 * 10 + 4 * 5 / 2.0, s.PrefillAttentionPairs);
        Assert.Equal(150, s.DecodeContextTokens);
        Assert.Equal(6, s.TotalTokens);
    }
}
