using System.Text.Json;
using Joules.Traces.Import;
using Xunit;

namespace Joules.Traces.Tests;

public class ImportRealTraceTests
{
    /// <summary>Count and token sums by a plain split over the file, independent of the importer.</summary>
    private static (long N, long In, long Out) CsvSums(string path, int inCol, int outCol)
    {
        long n = 0, i = 0, o = 0;
        foreach (var line in File.ReadLines(path).Skip(1))
        {
            if (line.Length == 0) continue;
            var f = line.Split(',');
            n++; i += long.Parse(f[inCol]); o += long.Parse(f[outCol]);
        }
        return (n, i, o);
    }

    private static (long N, long In, long Out) JsonSums(string path)
    {
        long n = 0, i = 0, o = 0;
        foreach (var line in File.ReadLines(path))
        {
            if (line.Length == 0) continue;
            using var d = JsonDocument.Parse(line);
            n++; i += d.RootElement.GetProperty("input_length").GetInt64(); o += d.RootElement.GetProperty("output_length").GetInt64();
        }
        return (n, i, o);
    }

    private static void AssertSums(ImportedTrace t, (long N, long In, long Out) expected)
    {
        Assert.Equal(expected.N, t.Requests.LongLength);
        Assert.Equal(expected.In, t.Requests.Sum(r => (long)r.InputTokens));
        Assert.Equal(expected.Out, t.Requests.Sum(r => (long)r.OutputTokens));
        Assert.Equal(expected.N, t.Report.Imported);
        Assert.Equal(0, t.Report.Skipped);
        for (var i = 1; i < t.Requests.Length; i++) Assert.True(t.Requests[i].ArrivalMicros >= t.Requests[i - 1].ArrivalMicros);
    }

    [Fact]
    public void AzureConvImportsExactly()
    {
        var t = TraceFile.Import(TestData.AzureConv);
        Assert.Equal(TraceFormat.Azure, t.Report.Format);
        Assert.Equal(19_366, t.Requests.Length);
        AssertSums(t, CsvSums(TestData.AzureConv, 1, 2));
        Assert.Equal(22_361_870, t.Requests.Sum(r => (long)r.InputTokens));
        Assert.Equal(4_088_665, t.Requests.Sum(r => (long)r.OutputTokens));
        // 2023-11-16 18:15:46.6805900, no zone: read as UTC, kept to the microsecond.
        Assert.Equal(new DateTimeOffset(2023, 11, 16, 18, 15, 46, TimeSpan.Zero).ToUnixTimeMilliseconds() * 1000 + 680_590, t.Requests[0].ArrivalMicros);
        Assert.Equal(374, t.Requests[0].InputTokens);
        Assert.Equal(44, t.Requests[0].OutputTokens);
    }

    [Fact]
    public void AzureCodeImportsExactly()
    {
        var t = TraceFile.Import(TestData.AzureCode);
        Assert.Equal(8_819, t.Requests.Length);
        AssertSums(t, CsvSums(TestData.AzureCode, 1, 2));
    }

    [Fact]
    public void VidurImportsExactlyAndMatchesAzureConvGaps()
    {
        var t = TraceFile.Import(TestData.Vidur);
        Assert.Equal(TraceFormat.Vidur, t.Report.Format);
        Assert.Equal(19_366, t.Requests.Length);
        AssertSums(t, CsvSums(TestData.Vidur, 1, 2));
        // arrived_at is seconds from the start: 4.314579 s for the second request.
        Assert.Equal(4_314_579, t.Requests[1].ArrivalMicros - t.Requests[0].ArrivalMicros);
        Assert.Equal(0, t.Requests[0].ArrivalMicros);
    }

    [Theory]
    [InlineData("mooncake_synthetic_trace.jsonl", 3_993)]
    [InlineData("mooncake_conversation_trace.jsonl", 12_031)]
    public void MooncakeImportsExactly(string name, int count)
    {
        var path = TestData.Shared(name);
        var t = TraceFile.Import(path);
        Assert.Equal(TraceFormat.Mooncake, t.Report.Format);
        Assert.Equal(count, t.Requests.Length);
        AssertSums(t, JsonSums(path));
    }

    [Fact]
    public void MooncakeTimestampsAreMilliseconds()
    {
        var t = TraceFile.Import(TestData.MooncakeConversation);
        Assert.Equal(3_536_999_000L, t.Requests[^1].ArrivalMicros);
    }
}
