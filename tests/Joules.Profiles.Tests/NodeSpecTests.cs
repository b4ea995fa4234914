using Xunit;

namespace Joules.Profiles.Tests;

public class NodeSpecTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("joules-node-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void ShippedServersAreFoundByNameAndByGpu()
    {
        Assert.Equal(["hgx-h100-8", "hgx-h200-8"], Catalog.Nodes.Keys.Order().ToArray());
        Assert.Equal("hgx-h100-8", Catalog.Node("HGX-H100-8").Name);
        Assert.Equal("hgx-h200-8", Catalog.NodeFor("h200")?.Name);
        Assert.Equal("hgx-h100-8", Catalog.NodeFor("h100-sxm")?.Name);
        Assert.Null(Catalog.NodeFor("a100-sxm"));
        Assert.Null(Catalog.TryNode("dgx-1"));
        var e = Assert.Throws<KeyNotFoundException>(() => Catalog.Node("dgx-1"));
        Assert.Contains("hgx-h100-8", e.Message);
    }

    [Fact]
    public void EveryShippedCardIsValidCitedAndCarriesACatalogGpu()
    {
        foreach (var node in Catalog.Nodes.Values)
        {
            node.Validate();
            Assert.NotNull(Catalog.TryGpu(node.Gpu));
            Assert.False(string.IsNullOrWhiteSpace(node.Source));
            Assert.All(node.Components, c => Assert.False(string.IsNullOrWhiteSpace(c.Source)));
            // The host stays well under the vendor's maximum with every GPU at its 700 W limit.
            Assert.True((node.HostBusyWatts + 8 * 700) / node.PsuEfficiency < node.MaxInputWatts, node.Name);
        }
    }

    [Fact]
    public void HostWattsPerGpuAreWorkedOutFromTheCard()
    {
        var node = Catalog.Node("hgx-h100-8");
        // Idle DC: CPUs 2 x 90 + DIMMs 32 x 3 + NICs 10 x 15 + optics 8 x 8 + NVSwitches 4 x 25 + fans 150 + drives 10 x 5 + other 150 = 940 W.
        Assert.Equal(940, node.HostIdleWatts, 9);
        // Busy DC: 2 x 200 + 32 x 6 + 10 x 20 + 8 x 8 + 4 x 60 + 600 + 10 x 10 + 250 = 2046 W.
        Assert.Equal(2046, node.HostBusyWatts, 9);
        // Per GPU at the wall (PSU 95%): idle 940 / 8 / 0.95 = 123.68 W, busy 2046 / 8 / 0.95 = 269.21 W, linear between.
        Assert.Equal(940 / 8.0 / 0.95, node.HostWattsPerGpu(0), 9);
        Assert.Equal(2046 / 8.0 / 0.95, node.HostWattsPerGpu(1), 9);
        Assert.Equal((940 + 0.25 * (2046 - 940)) / 8.0 / 0.95, node.HostWattsPerGpu(0.25), 9);
        // With a GPU drawing 600 W, the supplies also lose 600 x (1 / 0.95 - 1) = 31.58 W on its behalf.
        Assert.Equal(2046 / 8.0 / 0.95 + 600 * (1 / 0.95 - 1), node.HostWattsPerGpu(1, 600), 9);
        Assert.Contains("busy fraction", Assert.Throws<ArgumentOutOfRangeException>(() => node.HostWattsPerGpu(1.5)).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => node.HostWattsPerGpu(0.5, -1));
    }

    private string Write(string json)
    {
        var path = Path.Combine(_dir, $"node{Guid.NewGuid():N}.json");
        File.WriteAllText(path, json);
        return path;
    }

    private const string Good = """
        { "name": "lab-4", "gpu": "h100-sxm", "gpus_per_node": 4, "psu_efficiency": 0.9,
          "components": [ { "name": "cpu", "count": 1, "idle_watts": 100, "busy_watts": 300 } ] }
        """;

    [Fact]
    public void ACardFileIsReadAndValidated()
    {
        var node = Catalog.Node(Write(Good));
        Assert.Equal("lab-4", node.Name);
        Assert.Equal(100 / 4.0 / 0.9, node.HostWattsPerGpu(0), 12);
    }

    [Theory]
    [InlineData("\"gpus_per_node\": 4", "\"gpus_per_node\": 0", "gpus_per_node must be at least 1")]
    [InlineData("\"psu_efficiency\": 0.9", "\"psu_efficiency\": 1.2", "psu_efficiency must be in (0, 1]")]
    [InlineData("\"busy_watts\": 300", "\"busy_watts\": 50", "busy_watts (50) must be at least idle_watts (100)")]
    [InlineData("\"gpus_per_node\": 4,", "", "missing required field(s) 'gpus_per_node'")]
    [InlineData("\"gpus_per_node\": 4", "\"gpus_per_node\": \"four\"", "field 'gpus_per_node' (line 1): expected an integer")]
    public void BadCardsAreClearErrors(string from, string to, string expected)
    {
        var path = Write(Good.Replace(from, to));
        var e = Assert.Throws<InvalidDataException>(() => Catalog.Node(path));
        Assert.Contains(path, e.Message);
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain("System.", e.Message);
        Assert.DoesNotContain("NodeSpec", e.Message);
    }
}
