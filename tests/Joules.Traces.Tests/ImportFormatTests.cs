using Joules.Traces.Canonical;
using Joules.Traces.Import;
using Xunit;

namespace Joules.Traces.Tests;

public class ImportFormatTests
{
    private readonly string _dir = TestData.TempDir();

    [Fact]
    public void Azure2024WithZoneIsReadAsUtc()
    {
        var p = TestData.Write(_dir, "AzureLLMInferenceTrace_code_1week.csv",
            "TIMESTAMP,ContextTokens,GeneratedTokens\n" +
            "2024-05-10 00:00:00.009930+00:00,2162,5\n" +
            "2024-05-10 00:00:00.014894+00:00,2399,7\n" +
            "2024-05-10 02:00:00.5+02:00,100,1\n");
        var t = TraceFile.Import(p);
        Assert.Equal(TraceFormat.Azure, t.Report.Format);
        var epoch = new DateTimeOffset(2024, 5, 10, 0, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds() * 1000;
        Assert.Equal(epoch + 9_930, t.Requests[0].ArrivalMicros);
        Assert.Equal(epoch + 14_894, t.Requests[1].ArrivalMicros);
        Assert.Equal(epoch + 500_000, t.Requests[2].ArrivalMicros); // 02:00+02:00 is 00:00 UTC
        Assert.Equal(4661, t.Requests.Sum(r => r.InputTokens));
    }

    [Fact]
    public void Azure2025MultimodalCountsRequestsWithImages()
    {
        var p = TestData.Write(_dir, "AzureLLMInferenceTrace_multimodal.csv",
            "TIMESTAMP,NumImages,ContextTokens,GeneratedTokens\n" +
            "2025-03-01 00:00:01.1000000,0,812,120\n" +
            "2025-03-01 00:00:01.2000000,2,3051,240\n" +
            "2025-03-01 00:00:02.0000000,1,1500,33\n");
        var t = TraceFile.Import(p);
        Assert.Equal(TraceFormat.Azure, t.Report.Format);
        Assert.Equal(3, t.Requests.Length);
        Assert.Equal(2, t.Report.RequestsWithImages);
        Assert.Equal(5363, t.Requests.Sum(r => r.InputTokens));
        Assert.Contains(t.Report.Lines(), l => l.Contains("carried images"));
    }

    private const string BurstHeader = "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type";

    [Fact]
    public void BurstGptKeepsFailedRequestsByDefaultAndCountsThem()
    {
        var p = TestData.Write(_dir, "BurstGPT_1.csv", BurstHeader + "\n" +
            "5,ChatGPT,472,18,490,Conversation log\n" +
            "45,ChatGPT,1087,0,1087,Conversation log\n" +
            "118,GPT-4,417,276,693,API log\n");
        var t = TraceFile.Import(p);
        Assert.Equal(TraceFormat.BurstGpt, t.Report.Format);
        Assert.Equal(3, t.Requests.Length);
        Assert.Equal(1, t.Report.FailedRequests);
        Assert.False(t.Report.FailedDropped);
        Assert.Equal(45_000_000, t.Requests[1].ArrivalMicros);
        Assert.Equal("GPT-4", t.Requests[2].Model);
        Assert.Equal("API log", t.Requests[2].SloClass);
        Assert.Null(t.Requests[0].SessionId);
        Assert.Contains(t.Report.Lines(), l => l.Contains("1 failed requests") && l.Contains("kept"));
    }

    [Fact]
    public void BurstGptDropsFailedRequestsOnRequestAndStillCountsThem()
    {
        var p = TestData.Write(_dir, "BurstGPT_1.csv", BurstHeader + "\n" +
            "5,ChatGPT,472,18,490,Conversation log\n" +
            "45,ChatGPT,1087,0,1087,Conversation log\n" +
            "118,GPT-4,417,276,693,API log\n");
        var t = TraceFile.Import(p, new TraceImportOptions { DropFailed = true });
        Assert.Equal(2, t.Requests.Length);
        Assert.Equal(1, t.Report.FailedRequests);
        Assert.Equal(3, t.Report.RowsRead);
        Assert.Equal([0L, 1L], t.Requests.Select(r => r.RequestId));
    }

    [Fact]
    public void BurstGptWithSessionIdKeepsSessions()
    {
        var p = TestData.Write(_dir, "BurstGPT_sessions.csv",
            "Timestamp,Session ID,Elapsed time,Model,Request tokens,Response tokens,Total tokens,Log Type\n" +
            "0.5,a1b2,1.25,ChatGPT,100,20,120,Conversation log\n" +
            "1.5,a1b2,2.5,ChatGPT,230,40,270,Conversation log\n");
        var t = TraceFile.Import(p);
        Assert.Equal(TraceFormat.BurstGpt, t.Report.Format);
        Assert.All(t.Requests, r => Assert.Equal("a1b2", r.SessionId));
        Assert.Equal(1_500_000, t.Requests[1].ArrivalMicros);
    }

    [Fact]
    public void BadRowNamesFileLineColumnAndExpectation()
    {
        var p = TestData.Write(_dir, "bad.csv",
            "TIMESTAMP,ContextTokens,GeneratedTokens\n" +
            "2023-11-16 18:15:46.6805900,374,44\n" +
            "2023-11-16 18:15:50.9951690,lots,109\n");
        var e = Assert.Throws<TraceFormatException>(() => TraceFile.Import(p));
        Assert.Equal(p, e.File);
        Assert.Equal(3, e.Line);
        Assert.Equal("ContextTokens", e.Column);
        Assert.Contains("non-negative integer", e.Message);
        Assert.Contains("'lots'", e.Message);
        Assert.Contains("bad.csv:3", e.Message);
    }

    [Fact]
    public void BadTimestampIsReported()
    {
        var p = TestData.Write(_dir, "badtime.csv",
            "TIMESTAMP,ContextTokens,GeneratedTokens\n" +
            "yesterday,374,44\n");
        var e = Assert.Throws<TraceFormatException>(() => TraceFile.Import(p));
        Assert.Equal("TIMESTAMP", e.Column);
        Assert.Equal(2, e.Line);
        Assert.Contains("date-time", e.Expected);
    }

    [Fact]
    public void SkipInvalidSkipsAndReportsReasons()
    {
        var p = TestData.Write(_dir, "mixed.csv",
            "TIMESTAMP,ContextTokens,GeneratedTokens\n" +
            "2023-11-16 18:15:46.6805900,374,44\n" +
            "2023-11-16 18:15:47.0000000,-3,44\n" +
            "2023-11-16 18:15:48.0000000,10,\n" +
            "2023-11-16 18:15:49.0000000,12\n" +
            "2023-11-16 18:15:50.9951690,396,109\n");
        var t = TraceFile.Import(p, new TraceImportOptions { SkipInvalid = true });
        Assert.Equal(2, t.Requests.Length);
        Assert.Equal(5, t.Report.RowsRead);
        Assert.Equal(3, t.Report.Skipped);
        Assert.Equal(1, t.Report.SkippedByReason["column 'ContextTokens': expected a non-negative integer token count"]);
        Assert.Equal(2, t.Report.SkippedByReason["column 'GeneratedTokens': expected a non-negative integer token count"]);
        Assert.Contains(t.Report.Lines(), l => l.Contains("skipped 3 invalid rows"));
    }

    [Fact]
    public void MissingColumnIsAnError()
    {
        var p = TestData.Write(_dir, "burst_missing.csv", "Timestamp,Model,Request tokens,Response tokens\n1,x,2,3\n");
        // Sniffed as BurstGPT, whose only optional column is Session ID.
        var missing = Assert.Throws<TraceFormatException>(() => TraceFile.Import(p));
        Assert.Equal(1, missing.Line);
        Assert.Equal("Log Type", missing.Column);
        var q = TestData.Write(_dir, "unknown.csv", "a,b,c\n1,2,3\n");
        var e = Assert.Throws<InvalidDataException>(() => TraceFile.Import(q));
        Assert.Contains("--map", e.Message);
    }

    [Fact]
    public void UnsortedArrivalsAreSortedWithAWarning()
    {
        var p = TestData.Write(_dir, "unsorted.csv",
            "arrived_at,num_prefill_tokens,num_decode_tokens\n3.0,30,3\n1.0,10,1\n2.0,20,2\n1.0,11,1\n");
        var t = TraceFile.Import(p);
        Assert.Equal([10, 11, 20, 30], t.Requests.Select(r => r.InputTokens));
        Assert.Equal([0L, 1, 2, 3], t.Requests.Select(r => r.RequestId));
        Assert.Equal(2, t.Report.OutOfOrder);
        Assert.Contains(t.Report.Warnings, w => w.Contains("sorted"));
    }

    [Fact]
    public void LengthOnlyNeedsARateAndGeneratesReproducibleArrivals()
    {
        var p = TestData.Write(_dir, "lengths.csv", "ContextTokens,GeneratedTokens\n100,10\n200,20\n300,30\n");
        var e = Assert.Throws<ArgumentException>(() => TraceFile.Import(p));
        Assert.Contains("--rate", e.Message);
        var a = TraceFile.Import(p, new TraceImportOptions { Rate = 2, Seed = 7 });
        var b = TraceFile.Import(p, new TraceImportOptions { Rate = 2, Seed = 7 });
        Assert.Equal(TraceFormat.LengthOnly, a.Report.Format);
        Assert.Equal(a.Requests, b.Requests);
        Assert.Equal(600, a.Requests.Sum(r => r.InputTokens));
        Assert.True(a.Requests[0].ArrivalMicros > 0);
    }

    [Fact]
    public void MappedCsvAndJsonl()
    {
        var p = TestData.Write(_dir, "custom.csv", "when,prompt,completion,who\n2024-01-01T00:00:01Z,5,6,acme\n2024-01-01T00:00:02Z,7,8,\n");
        var t = TraceFile.Import(p, new TraceImportOptions { Map = ColumnMap.Parse("arrival=when,input=prompt,output=completion,tenant=who") });
        Assert.Equal(TraceFormat.Mapped, t.Report.Format);
        Assert.Equal("acme", t.Requests[0].Tenant);
        Assert.Null(t.Requests[1].Tenant);
        Assert.Equal(1_000_000, t.Requests[1].ArrivalMicros - t.Requests[0].ArrivalMicros);

        var j = TestData.Write(_dir, "custom.jsonl", "{\"t\": 1500, \"i\": 3, \"o\": 4, \"extra\": [1,2]}\n{\"t\": 2500, \"i\": 5, \"o\": 6}\n");
        var u = TraceFile.Import(j, new TraceImportOptions { Map = ColumnMap.Parse("arrival=t,input=i,output=o"), TimeUnit = TimeUnit.Milliseconds });
        Assert.Equal([1_500_000L, 2_500_000], u.Requests.Select(r => r.ArrivalMicros));
    }

    [Fact]
    public void BadJsonLineIsReportedWithItsLine()
    {
        var j = TestData.Write(_dir, "bad.jsonl",
            "{\"timestamp\": 0, \"input_length\": 5, \"output_length\": 6, \"hash_ids\": [1]}\n{\"timestamp\": 1, \"input_length\": \"x\", \"output_length\": 6}\n");
        var e = Assert.Throws<TraceFormatException>(() => TraceFile.Import(j));
        Assert.Equal(2, e.Line);
        Assert.Equal("input_length", e.Column);
    }

    [Fact]
    public void CanonicalCsvRoundTripsTheRealTrace()
    {
        var t = TraceFile.Import(TestData.AzureConv);
        var p = Path.Combine(_dir, "conv.csv");
        Assert.Equal(t.Requests.LongLength, CanonicalTraceWriter.Write(p, t.Requests));
        var back = CanonicalTraceReader.Read(p).ToArray();
        Assert.Equal(t.Requests, back);
    }
}
