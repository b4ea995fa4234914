using Joules.Parquet;
using Joules.Traces.Canonical;
using Joules.Traces.Import;
using Joules.Traces.Stats;
using Xunit;

namespace Joules.Traces.Tests;

public class ParquetTraceTests
{
    private readonly string _dir = TestData.TempDir();

    [Theory]
    [InlineData("azure2023_AzureLLMInferenceTrace_conv.csv")]
    [InlineData("azure2023_AzureLLMInferenceTrace_code.csv")]
    [InlineData("vidur_splitwise_conv.csv")]
    [InlineData("mooncake_conversation_trace.jsonl")]
    [InlineData("mooncake_synthetic_trace.jsonl")]
    public void RealTracesRoundTripThroughCanonicalParquet(string name)
    {
        var t = TraceFile.Import(TestData.Shared(name));
        var p = Path.Combine(_dir, name + ".parquet");
        CanonicalTraceWriter.Write(p, t.Requests);
        var back = CanonicalTraceReader.Read(p).ToArray();
        Assert.Equal(t.Requests, back);
        // And statistics do not depend on the container.
        Assert.Equal(TraceStatistics.Compute(t.Requests).ToJson(), TraceStatistics.Compute(back).ToJson());
    }

    [Theory]
    [InlineData("azure2023_AzureLLMInferenceTrace_conv.csv")]
    [InlineData("mooncake_synthetic_trace.jsonl")]
    [InlineData("vidur_splitwise_conv.csv")]
    public void StreamingImportEqualsInMemoryImport(string name)
    {
        var p = Path.Combine(_dir, name + ".streamed.parquet");
        var report = TraceFile.ImportTo(TestData.Shared(name), p);
        var expected = TraceFile.Import(TestData.Shared(name));
        Assert.Equal(expected.Requests.LongLength, report.Imported);
        Assert.Equal(expected.Requests, CanonicalTraceReader.Read(p).ToArray());
        using var r = ParquetFileReader.Open(p);
        // These layouts fill no optional string column; Mooncake carries its block hashes.
        Assert.Equal(name.StartsWith("mooncake", StringComparison.Ordinal) ? 5 : 4, r.Schema.Count);
    }

    [Fact]
    public void StreamingImportFallsBackToSortingAndKeepsIdsContiguous()
    {
        var src = TestData.Write(_dir, "burst_unsorted.csv", "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n" +
            "5,ChatGPT,1,1,2,Conversation log\n3,ChatGPT,2,0,2,Conversation log\n4,GPT-4,3,3,6,API log\n1,GPT-4,4,4,8,API log\n");
        var p = Path.Combine(_dir, "burst.parquet");
        var report = TraceFile.ImportTo(src, p, new TraceImportOptions { DropFailed = true });
        Assert.Equal(1, report.FailedRequests);
        Assert.Contains(report.Warnings, w => w.Contains("sorted"));
        var back = CanonicalTraceReader.Read(p).ToArray();
        Assert.Equal([4, 3, 1], back.Select(r => r.InputTokens));
        Assert.Equal([0L, 1, 2], back.Select(r => r.RequestId));
        Assert.Equal(["GPT-4", "GPT-4", "ChatGPT"], back.Select(r => r.Model));

        var sortedSrc = TestData.Write(_dir, "burst_sorted.csv", "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n" +
            "1,ChatGPT,1,1,2,Conversation log\n2,ChatGPT,2,0,2,Conversation log\n3,GPT-4,3,3,6,API log\n");
        var q = Path.Combine(_dir, "burst_sorted.parquet");
        TraceFile.ImportTo(sortedSrc, q, new TraceImportOptions { DropFailed = true });
        Assert.Equal([0L, 1], CanonicalTraceReader.Read(q).Select(r => r.RequestId));
    }

    [Fact]
    public void CanonicalParquetHasTheDesignSchema()
    {
        var p = Path.Combine(_dir, "schema.parquet");
        CanonicalTraceWriter.Write(p, [new TraceRequest(7, 1_700_000_000_123_456, 10, 20, "llama", null, "s1", "batch", [11, 12, 13])],
            new Dictionary<string, string> { ["joules.trace.seed"] = "42" }, OptionalColumns.All);
        using var r = ParquetFileReader.Open(p);
        Assert.Equal(["request_id", "arrival_time", "input_tokens", "output_tokens", "model", "tenant", "session_id", "slo_class", "hash_ids"], r.Schema.Select(c => c.Name));
        Assert.True(r.Schema["hash_ids"].IsList);
        Assert.Equal("LIST<INT64>", r.Schema["hash_ids"].TypeDescription);
        Assert.Equal("INT64 Timestamp(MICROS, UTC)", r.Schema["arrival_time"].TypeDescription);
        Assert.Equal(PhysicalType.Int32, r.Schema["input_tokens"].PhysicalType);
        Assert.True(r.Schema["tenant"].IsOptional);
        Assert.Equal("42", r.Metadata["joules.trace.seed"]);
        var back = CanonicalTraceReader.Read(p).Single();
        Assert.Equal(new TraceRequest(7, 1_700_000_000_123_456, 10, 20, "llama", null, "s1", "batch", [11, 12, 13]), back);
    }

    [Fact]
    public void AllNullOptionalColumnsAreLeftOut()
    {
        var p = Path.Combine(_dir, "lean.parquet");
        CanonicalTraceWriter.Write(p, [new TraceRequest(0, 1, 2, 3, SessionId: "s"), new TraceRequest(1, 2, 3, 4)]);
        using (var r = ParquetFileReader.Open(p))
            Assert.Equal(["request_id", "arrival_time", "input_tokens", "output_tokens", "session_id"], r.Schema.Select(c => c.Name));
        Assert.Equal([new TraceRequest(0, 1, 2, 3, SessionId: "s"), new TraceRequest(1, 2, 3, 4)], CanonicalTraceReader.Read(p));
        using var w = CanonicalTraceWriter.Create(Path.Combine(_dir, "none.parquet"), columns: OptionalColumns.None);
        Assert.Throws<InvalidOperationException>(() => w.Write(new TraceRequest(0, 1, 2, 3, Model: "m")));
    }

    [Fact]
    public void ManyRowGroupsStreamInOrder()
    {
        var n = (1 << 19) * 2 + 123;
        var p = Path.Combine(_dir, "big.parquet");
        CanonicalTraceWriter.Write(p, Enumerable.Range(0, n).Select(i => new TraceRequest(i, 1_000_000L * i, i % 1000, i % 100)));
        using (var r = ParquetFileReader.Open(p)) Assert.Equal(3, r.RowGroupCount);
        long count = 0, sum = 0;
        foreach (var q in CanonicalTraceReader.Read(p)) { Assert.Equal(count, q.RequestId); count++; sum += q.InputTokens; }
        Assert.Equal(n, count);
        Assert.Equal(Enumerable.Range(0, n).Sum(i => (long)(i % 1000)), sum);
    }

    [Fact]
    public void MappedParquetWithOtherTypes()
    {
        var p = Path.Combine(_dir, "other.parquet");
        using (var w = new ParquetFileWriter(p, new ParquetSchema(
                   ParquetColumn.Timestamp("ts", Parquet.TimeUnit.Millis), ParquetColumn.Int64("prompt"), ParquetColumn.Int64("completion"), ParquetColumn.String("user", optional: true))))
            w.WriteRowGroup(ColumnData.From(new long[] { 2000, 1000 }), ColumnData.From(new long[] { 5, 6 }), ColumnData.From(new long[] { 7, 8 }), ColumnData.From(new string?[] { "a", null }));
        var t = TraceFile.Import(p, new TraceImportOptions { Map = ColumnMap.Parse("arrival=ts,input=prompt,output=completion,tenant=user") });
        Assert.Equal(TraceFormat.Mapped, t.Report.Format);
        Assert.Equal([1_000_000L, 2_000_000], t.Requests.Select(r => r.ArrivalMicros));
        Assert.Equal([6, 5], t.Requests.Select(r => r.InputTokens));
        Assert.Equal([null, "a"], t.Requests.Select(r => r.Tenant));
        Assert.Equal(1, t.Report.OutOfOrder);
    }

    [Fact]
    public void UnsortedParquetIsRejectedWhenStreamed()
    {
        var p = Path.Combine(_dir, "unsorted.parquet");
        using (var w = new ParquetFileWriter(p, CanonicalTraceWriter.ParquetSchema))
            w.WriteRowGroup(ColumnData.From(new long[] { 0, 1 }), ColumnData.From(new long[] { 5, 3 }), ColumnData.From(new[] { 1, 2 }), ColumnData.From(new[] { 1, 2 }),
                ColumnData.From(new string?[2]), ColumnData.From(new string?[2]), ColumnData.From(new string?[2]), ColumnData.From(new string?[2]),
                ColumnData.FromLists(new int[3], Array.Empty<long>(), new bool[2]));
        var e = Assert.Throws<InvalidDataException>(() => CanonicalTraceReader.Read(p).ToArray());
        Assert.Contains("row 2", e.Message);
        // Import sorts it instead.
        Assert.Equal([3L, 5], TraceFile.Import(p).Requests.Select(r => r.ArrivalMicros));
    }
}
