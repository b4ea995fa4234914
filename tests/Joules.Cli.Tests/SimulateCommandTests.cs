using System.Text.Json;
using Joules.Cli;
using Xunit;

namespace Joules.Cli.Tests;

public class SimulateCommandTests
{
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        var code = Program.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    private static string TempDir()
    {
        var d = Path.Combine(Path.GetTempPath(), "joules-sim-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(d);
        return d;
    }

    [Fact]
    public void JsonSummaryHasTheContractKeys()
    {
        var (code, output, err) = Run("simulate", "--synthetic", "300", "--rate", "4", "--instances", "2", "--json");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(output);
        // One shape for one scenario and for several: provenance plus a list of scenarios.
        var prov = doc.RootElement.GetProperty("provenance");
        Assert.StartsWith("joules simulate --synthetic 300", prov.GetProperty("command").GetString());
        Assert.Equal(300, prov.GetProperty("trace_requests").GetInt64());
        Assert.Equal("profile", doc.RootElement.GetProperty("scenarios")[0].GetProperty("cost_model_kind").GetString());
        Assert.Matches("^[0-9a-f]{64}$", prov.GetProperty("scenarios")[0].GetProperty("profile_sha256").GetString()!);
        var root = Assert.Single(doc.RootElement.GetProperty("scenarios").EnumerateArray());
        foreach (var key in new[] { "requests_total", "requests_completed", "energy_j", "energy_kwh", "j_per_output_token", "slo_attainment", "simulated_s", "wall_s" })
            Assert.True(root.TryGetProperty(key, out _), key);
        foreach (var q in new[] { "p50", "p90", "p99" })
        {
            Assert.True(root.GetProperty("ttft_s").GetProperty(q).GetDouble() > 0);
            Assert.True(root.GetProperty("tpot_s").GetProperty(q).GetDouble() > 0);
        }
        Assert.True(root.GetProperty("e2e_s").GetProperty("p99").GetDouble() >= root.GetProperty("e2e_s").GetProperty("p50").GetDouble());
        Assert.Equal(300, root.GetProperty("requests_total").GetInt64());
        Assert.Equal(300, root.GetProperty("requests_completed").GetInt64());
        Assert.Equal(root.GetProperty("energy_j").GetDouble() / 3.6e6, root.GetProperty("energy_kwh").GetDouble(), 9);
    }

    [Theory]
    [InlineData("--requests", "0", "--requests: must be at least 1, got 0")]
    [InlineData("--rate", "0", "--rate: '0' is not a positive rate in requests/s")]
    [InlineData("-n", "0", "--instances: '0' is not a whole number of instances, at least 1")]
    public void TheBenchRefusesInputsItWouldTurnIntoNaN(string option, string value, string expected)
    {
        // --requests 0 printed "NaN J/output token"; --rate 0 leaked a .NET parameter name.
        var (code, output, err) = Run("simulate", "bench", option, value);
        Assert.NotEqual(0, code);
        Assert.Contains(expected, err);
        Assert.DoesNotContain("NaN", output + err);
        Assert.DoesNotContain("Parameter", err);
    }

    [Fact]
    public void ATraceAndSyntheticRequestsAreOneChoiceAndARateWithoutSyntheticIsSaidToBeIgnored()
    {
        var (code, _, err) = Run("simulate", "--synthetic", "10", "--trace", "traces/azure-conv-5min.parquet");
        Assert.NotEqual(0, code);
        Assert.Contains("--synthetic generates the requests, --trace reads them", err);
        (code, _, err) = Run("simulate", "--rate", "100", "--instances", "1");
        Assert.Equal(0, code);
        Assert.Contains("warning: --rate sets the arrival rate of --synthetic requests", err);
    }

    [Fact]
    public void TablePrintsEnergyAndLatency()
    {
        var (code, output, err) = Run("simulate", "--synthetic", "100", "--router", "round-robin", "--pue", "1.2", "--carbon", "400", "--price", "0.1");
        Assert.True(code == 0, err);
        Assert.Contains("J / output token", output);
        Assert.Contains("TTFT p50", output);
        Assert.Contains("round-robin", output);
        Assert.Contains("1.20", output);
    }

    [Fact]
    public void ScenarioFileRunsConfigurationsSideBySideAndOutWritesFiles()
    {
        var dir = TempDir();
        var yaml = Path.Combine(dir, "s.yaml");
        File.WriteAllText(yaml, """
            defaults:
              instances: 4
            scenarios:
              - name: rr
                router: round-robin
              - name: packed
                router: consolidate
              - name: static
                batching: static
                max_num_seqs: 16
            """);
        var outDir = Path.Combine(dir, "out");
        var (code, output, err) = Run("simulate", "--synthetic", "200", "--scenario", yaml, "--out", outDir, "--json");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(output);
        var list = doc.RootElement.GetProperty("scenarios").EnumerateArray().ToList();
        Assert.Equal(["rr", "packed", "static"], list.Select(s => s.GetProperty("name").GetString()));
        Assert.All(list, s => Assert.Equal(4, s.GetProperty("instances").GetInt32()));
        Assert.Equal("static", list[2].GetProperty("batching").GetString());
        Assert.True(File.Exists(Path.Combine(outDir, "summary.json")));
        var html = File.ReadAllText(Path.Combine(outDir, "report.html"));
        Assert.Contains("<svg", html);
        Assert.Contains("packed", html);
        foreach (var name in new[] { "rr", "packed", "static" })
            Assert.NotEmpty(Directory.GetFiles(Path.Combine(outDir, name), "requests.*"));
        var requests = Directory.GetFiles(Path.Combine(outDir, "rr"), "requests.*")[0];
        Assert.EndsWith(".parquet", requests);
        using (var reader = Joules.Parquet.ParquetFileReader.Open(requests))
        {
            Assert.Equal(200, reader.RowCount);
            Assert.Contains(reader.Schema, c => c.Name == "energy_j");
        }
        using (var reader = Joules.Parquet.ParquetFileReader.Open(Path.Combine(outDir, "rr", "power.parquet")))
            Assert.True(reader.RowCount > 0);
    }

    [Fact]
    public void BadYamlNamesTheLine()
    {
        var dir = TempDir();
        var yaml = Path.Combine(dir, "bad.yaml");
        File.WriteAllText(yaml, "scenarios:\n  - name: a\n    routr: round-robin\n");
        var (code, _, err) = Run("simulate", "--synthetic", "10", "--scenario", yaml);
        Assert.NotEqual(0, code);
        Assert.Contains("bad.yaml:3:", err);
        Assert.Contains("routr", err);
    }

    [Theory]
    [InlineData("--router", "fastest", "--router: 'fastest' is not one of round-robin, least-outstanding")]
    [InlineData("--cost-model", "magic", "unknown cost model 'magic'")]
    [InlineData("--model", "gpt-9", "unknown model 'gpt-9'")]
    [InlineData("--trace", "/no/such/trace.parquet", "does not exist")]
    [InlineData("--instances", "0", "--instances: must be at least 1, got 0")]
    [InlineData("--max-num-seqs", "lots", "--max-num-seqs: 'lots' is not a positive whole number")]
    [InlineData("--prefix-caching", "maybe", "--prefix-caching: 'maybe' is not on or off")]
    public void BadInputFailsWithAClearMessage(string option, string value, string expected)
    {
        var args = option == "--trace" ? new[] { "simulate", option, value } : ["simulate", "--synthetic", "10", option, value];
        var (code, _, err) = Run(args);
        Assert.NotEqual(0, code);
        Assert.Contains(expected, err);
        Assert.DoesNotContain("bug in joules", err);
    }

    [Fact]
    public void NoArgumentsReplaysTheShippedDefaultTrace()
    {
        var (code, output, err) = Run("simulate", "--json");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(output);
        Assert.Matches("^[0-9a-f]{64}$", doc.RootElement.GetProperty("provenance").GetProperty("trace_sha256").GetString()!);
        var root = doc.RootElement.GetProperty("scenarios")[0];
        Assert.True(root.GetProperty("requests_total").GetInt64() > 100);
        Assert.Equal(root.GetProperty("requests_total").GetInt64(), root.GetProperty("requests_completed").GetInt64());
        Assert.Equal(8, root.GetProperty("instances").GetInt32());
        Assert.InRange(root.GetProperty("simulated_s").GetDouble(), 250, 400);
    }

    [Fact]
    public void BenchReportsSpeed()
    {
        var (code, output, err) = Run("simulate", "bench", "--requests", "500", "--instances", "2");
        Assert.True(code == 0, err);
        Assert.Contains("simulated/wall", output);
        Assert.Contains("peak memory", output);
    }

    [Fact]
    public void CsvTraceIsReplayed()
    {
        var dir = TempDir();
        var csv = Path.Combine(dir, "t.csv");
        File.WriteAllText(csv, "request_id,arrival_time,input_tokens,output_tokens\n1,2024-01-01T00:00:00Z,100,10\n2,2024-01-01T00:00:01Z,200,20\n");
        var (code, output, err) = Run("simulate", "--trace", csv, "--instances", "1", "--json");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(output);
        var root = doc.RootElement.GetProperty("scenarios")[0];
        Assert.Equal(2, root.GetProperty("requests_completed").GetInt64());
        Assert.Equal(30, root.GetProperty("output_tokens").GetInt64());
    }
}
