using System.Text.Json;
using Joules.Cli;
using Joules.Traces.Canonical;
using Xunit;

namespace Joules.Cli.Tests;

public class TraceCommandTests
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "joules-trace-cli-tests", Guid.NewGuid().ToString("N"));

    public TraceCommandTests() => Directory.CreateDirectory(_dir);

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        var code = Program.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    private static string Shared(string name) => Joules.Tests.RepoPaths.Shared("traces", name);

    private static string AzureConv => Shared("azure2023_AzureLLMInferenceTrace_conv.csv");

    private string Out(string name) => Path.Combine(_dir, name);

    [Fact]
    public void SynthWithRequestsDurationAndRateAllGivenAsksForTwo()
    {
        // -d 1h -n 10 -r 5 made a 1.9 s trace: the duration was dropped without a word.
        var (code, _, err) = Run("trace", "synth", "-d", "1h", "-n", "10", "-r", "5", "-o", Path.Combine(Path.GetTempPath(), $"joules-synth-{Guid.NewGuid():N}.parquet"));
        Assert.NotEqual(0, code);
        Assert.Contains("give two of them", err);
    }

    [Fact]
    public void ImportThenStatsJsonGivesExactCountsAndSums()
    {
        var parquet = Out("conv.parquet");
        var (code, output, err) = Run("trace", "import", AzureConv, "-o", parquet);
        Assert.True(code == 0, err);
        Assert.Contains("19,366 requests imported", output);
        Assert.Contains("wrote 19,366 requests", output);

        (code, output, err) = Run("trace", "stats", parquet, "--json");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(output);
        var root = doc.RootElement;
        Assert.Equal(19_366, root.GetProperty("requests").GetInt64());
        Assert.Equal(22_361_870, root.GetProperty("input_tokens").GetProperty("sum").GetInt64());
        Assert.Equal(4_088_665, root.GetProperty("output_tokens").GetProperty("sum").GetInt64());
        Assert.True(root.GetProperty("duration_s").GetDouble() > 3500);
        Assert.True(root.GetProperty("rate").GetProperty("peak_per_minute_rps").GetDouble() >= root.GetProperty("rate").GetProperty("mean_rps").GetDouble());
        Assert.Equal(19_366, root.GetProperty("bins").EnumerateArray().Sum(b => b.GetProperty("count").GetInt64()));
    }

    [Fact]
    public void StatsReadsSourceFormatsDirectlyWithCustomBins()
    {
        var (code, output, err) = Run("trace", "stats", Shared("mooncake_synthetic_trace.jsonl"), "--json", "--input-bins", "0,8192,32768", "--output-bins", "0,16");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(output);
        Assert.Equal(3_993, doc.RootElement.GetProperty("requests").GetInt64());
        var bins = doc.RootElement.GetProperty("bins").EnumerateArray().ToList();
        Assert.All(bins, b => Assert.Contains(b.GetProperty("input_lo").GetInt32(), new[] { 0, 8192, 32768 }));
        Assert.Equal(3_993, bins.Sum(b => b.GetProperty("count").GetInt64()));

        (code, output, err) = Run("trace", "stats", AzureConv);
        Assert.True(code == 0, err);
        Assert.Contains("19,366", output);
        Assert.Contains("22,361,870", output);
        Assert.Contains("in \\ out", output);
    }

    [Fact]
    public void ImportErrorNamesFileLineAndColumnAndSkipInvalidReports()
    {
        var bad = Out("bad.csv");
        File.WriteAllText(bad, "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,374,44\n2023-11-16 18:15:47.0000000,374,many\n");
        var (code, _, err) = Run("trace", "import", bad, "-o", Out("bad.parquet"));
        Assert.Equal(1, code);
        Assert.Contains("bad.csv:3", err);
        Assert.Contains("GeneratedTokens", err);
        Assert.DoesNotContain("bug", err);

        (code, var output, err) = Run("trace", "import", bad, "-o", Out("bad.parquet"), "--skip-invalid");
        Assert.True(code == 0, err);
        Assert.Contains("skipped 1 invalid rows", output);
        Assert.Contains("wrote 1 requests", output);
    }

    [Fact]
    public void BurstGptFailedRequestsAreReportedAndDroppedByFlag()
    {
        var src = Out("burst.csv");
        File.WriteAllText(src, "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n5,ChatGPT,472,18,490,Conversation log\n45,ChatGPT,1087,0,1087,Conversation log\n");
        var (code, output, _) = Run("trace", "import", src, "-o", Out("b1.parquet"));
        Assert.Equal(0, code);
        Assert.Contains("1 failed requests (0 response tokens) kept", output);
        (code, output, _) = Run("trace", "import", src, "-o", Out("b2.parquet"), "--drop-failed");
        Assert.Equal(0, code);
        Assert.Contains("dropped", output);
        Assert.Single(CanonicalTraceReader.Read(Out("b2.parquet")));
    }

    [Fact]
    public void LengthOnlyImportNeedsRate()
    {
        var src = Out("len.csv");
        File.WriteAllText(src, "input_tokens,output_tokens\n10,1\n20,2\n");
        var (code, _, err) = Run("trace", "import", src, "-o", Out("len.parquet"));
        Assert.Equal(1, code);
        Assert.Contains("--rate", err);
        (code, _, err) = Run("trace", "import", src, "-o", Out("len.parquet"), "--rate", "5");
        Assert.True(code == 0, err);
        Assert.Equal(2, CanonicalTraceReader.Read(Out("len.parquet")).Count());
    }

    [Fact]
    public void SynthLikeIsReproducibleForASeed()
    {
        var a = Out("a.parquet");
        var b = Out("b.parquet");
        var (code, output, err) = Run("trace", "synth", "--like", AzureConv, "--duration", "2m", "--seed", "5", "-o", a);
        Assert.True(code == 0, err);
        Assert.Contains("fitted to", output);
        Assert.Equal(0, Run("trace", "synth", "--like", AzureConv, "--duration", "2m", "--seed", "5", "-o", b).Code);
        var ra = CanonicalTraceReader.Read(a).ToArray();
        Assert.Equal(ra, CanonicalTraceReader.Read(b).ToArray());
        Assert.InRange(ra.Length, 300, 1100); // about 5.5 req/s for 120 s
        Assert.True(ra[^1].ArrivalMicros - ra[0].ArrivalMicros <= 120_000_000);
    }

    [Fact]
    public void SynthWithoutLikeNeedsASize()
    {
        var (code, _, err) = Run("trace", "synth", "-o", Out("x.parquet"), "--rate", "3");
        Assert.Equal(1, code);
        Assert.Contains("--requests", err);
        (code, var output, err) = Run("trace", "synth", "-o", Out("x.parquet"), "--requests", "1000", "--rate", "50", "--arrival", "gamma", "--cv", "2", "--diurnal", "0.5");
        Assert.True(code == 0, err);
        Assert.Contains("wrote 1,000 requests", output);
    }

    [Fact]
    public void TransformsConserveCounts()
    {
        var conv = Out("conv.parquet");
        Assert.Equal(0, Run("trace", "import", AzureConv, "-o", conv).Code);
        var (code, output, err) = Run("trace", "tile", conv, "--copies", "3", "-o", Out("tiled.parquet"));
        Assert.True(code == 0, err);
        Assert.Contains("wrote 58,098 requests", output);

        Assert.Equal(0, Run("trace", "slice", conv, "--to", "30m", "-o", Out("first.parquet")).Code);
        Assert.Equal(0, Run("trace", "slice", conv, "--from", "30m", "-o", Out("second.parquet")).Code);
        var first = CanonicalTraceReader.Read(Out("first.parquet")).Count();
        var second = CanonicalTraceReader.Read(Out("second.parquet")).Count();
        Assert.Equal(19_366, first + second);
        Assert.True(first > 0 && second > 0);

        (code, output, err) = Run("trace", "merge", Out("first.parquet"), Out("second.parquet"), AzureConv, "-o", Out("merged.parquet"));
        Assert.True(code == 0, err);
        Assert.Contains($"wrote {2 * 19_366:N0} requests", output);

        Assert.Equal(0, Run("trace", "scale", conv, "--factor", "2", "-o", Out("fast.csv")).Code);
        var fast = CanonicalTraceReader.Read(Out("fast.csv")).ToArray();
        Assert.Equal(19_366, fast.Length);

        Assert.Equal(0, Run("trace", "sample", conv, "--fraction", "0.25", "--seed", "3", "-o", Out("quarter.parquet")).Code);
        Assert.InRange(CanonicalTraceReader.Read(Out("quarter.parquet")).Count(), 4_300, 5_400);
    }

    [Fact]
    public void HelpExplainsEveryTraceCommand()
    {
        var (code, output, _) = Run("trace", "--help");
        Assert.Equal(0, code);
        foreach (var verb in new[] { "import", "stats", "slice", "sample", "scale", "tile", "merge", "synth" }) Assert.Contains(verb, output);
        (code, output, _) = Run("trace", "import", "--help");
        Assert.Equal(0, code);
        Assert.Contains("--skip-invalid", output);
        Assert.Contains("--map", output);
    }

    [Theory]
    [InlineData("sample", "--fraction", "abc", "--fraction: 'abc' is not a probability in [0, 1]")]
    [InlineData("sample", "--fraction", "1.5", "--fraction: '1.5' is not a probability in [0, 1]")]
    [InlineData("scale", "--factor", "0", "--factor: '0' is not a positive factor")]
    [InlineData("tile", "--copies", "two", "--copies: 'two' is not a whole number of copies")]
    [InlineData("import", "--rate", "-3", "--rate: '-3' is not a positive rate")]
    [InlineData("import", "--format", "parquet", "--format: 'parquet' is not one of auto, canonical, azure")]
    [InlineData("import", "--time-unit", "hours", "--time-unit: 'hours' is not one of seconds, milliseconds, microseconds")]
    [InlineData("stats", "--input-bins", "0,x", "--input-bins: 'x' is not a non-negative whole number")]
    [InlineData("synth", "--requests", "-5", "--requests: '-5' is not a whole number of requests")]
    [InlineData("synth", "--diurnal", "1.2", "--diurnal: '1.2' is not an amplitude in [0, 1)")]
    [InlineData("synth", "--duration", "soon", "--duration: 'soon' is not a positive duration")]
    public void OptionErrorsNameTheOptionTheValueAndWhatWasExpected(string command, string option, string value, string expected)
    {
        var args = command switch
        {
            "synth" => new[] { "trace", "synth", "-o", Out("s.parquet"), "--rate", "5", option, value },
            "stats" => ["trace", "stats", AzureConv, option, value],
            _ => ["trace", command, AzureConv, "-o", Out("o.parquet"), option, value],
        };
        if (command is "sample" && option != "--fraction") args = [.. args, "--fraction", "0.5"];
        var (code, _, err) = Run(args);
        Assert.NotEqual(0, code);
        Assert.Contains(expected, err);
        Assert.DoesNotContain("System.", err);
        Assert.DoesNotContain("Parameter '", err);
        Assert.False(File.Exists(Out("o.parquet")) || File.Exists(Out("s.parquet")));
    }

    [Fact]
    public void SliceThatSelectsNothingWarnsAndSynthSaysWhatItWillWrite()
    {
        var (code, _, err) = Run("trace", "slice", AzureConv, "--from", "2d", "-o", Out("none.parquet"));
        Assert.True(code == 0, err);
        Assert.Contains("warning: no request arrives in [2023-11-18", err);
        (code, var output, err) = Run("trace", "synth", "-n", "50000", "--rate", "10", "-o", Out("s.parquet"));
        Assert.True(code == 0, err);
        Assert.Contains("generating 50,000 requests into s.parquet (about 7", output);
        (code, _, err) = Run("trace", "synth", "-d", "1s", "--rate", "0.0001", "-o", Out("tiny.parquet"));
        Assert.NotEqual(0, code);
        Assert.Contains("no request arrives within 1 s", err);
        Assert.False(File.Exists(Out("tiny.parquet")));
    }

    [Fact]
    public void ImportWarnsAboutZeroOutputTokensAndRenumbersDuplicateIdsOnRequest()
    {
        var src = Out("dups.csv");
        File.WriteAllText(src, "request_id,arrival_time,input_tokens,output_tokens\n1,2024-01-01T00:00:00Z,10,0\n1,2024-01-01T00:00:01Z,10,5\n");
        var (code, _, err) = Run("trace", "import", src, "-o", Out("d.parquet"));
        Assert.NotEqual(0, code);
        Assert.Contains("dups.csv:3: column 'request_id'", err);
        (code, var output, err) = Run("trace", "import", src, "-o", Out("d.parquet"), "--renumber");
        Assert.True(code == 0, err);
        Assert.Contains("wrote 2 requests", output);
        Assert.Contains("warning: 1 request has 0 output tokens; the simulator generates 1 token for each", err);
        Assert.Equal([0L, 1], CanonicalTraceReader.Read(Out("d.parquet")).Select(r => r.RequestId));
    }

    [Fact]
    public void ABareCommandGroupShowsItsHelp()
    {
        var (code, output, _) = Run("trace");
        Assert.Equal(0, code);
        Assert.Contains("import", output);
        Assert.Contains("synth", output);
    }
}
