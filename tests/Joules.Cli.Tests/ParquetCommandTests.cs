using System.Text.Json;
using Joules.Cli;
using Joules.Parquet;
using Xunit;

namespace Joules.Cli.Tests;

public class ParquetCommandTests
{
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        var code = Program.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    private static string Fixture(string name) => Joules.Tests.RepoPaths.Shared("fixtures", "parquet-testing", name);

    private static string WriteTrace()
    {
        var path = Path.Combine(Path.GetTempPath(), $"joules-cli-{Guid.NewGuid():N}.parquet");
        var schema = new ParquetSchema(
            ParquetColumn.Timestamp("arrival_time"),
            ParquetColumn.Int32("input_tokens"),
            ParquetColumn.Double("energy_j", optional: true),
            ParquetColumn.String("model", optional: true));
        using var w = new ParquetFileWriter(path, schema, new ParquetWriteOptions { RowGroupRows = 3, Metadata = new Dictionary<string, string> { ["source"] = "test" } });
        w.WriteRowGroup(
            ColumnData.From(new long[] { 1_704_067_200_000_000, 1_704_067_200_500_000, 1_704_067_201_000_000, 1_704_067_202_000_000, 1_704_067_203_000_000 }),
            ColumnData.From(new[] { 10, 20, 30, 40, 50 }),
            ColumnData.From(new[] { 1.5, 0, 2.5, 0, 4.0 }, new[] { true, false, true, false, true }),
            ColumnData.From(new string?[] { "a", "b", null, "a", "c" }));
        return path;
    }

    [Fact]
    public void SchemaListsColumnsTypesAndMetadata()
    {
        var path = WriteTrace();
        try
        {
            var (code, output, err) = Run("parquet", "schema", path);
            Assert.True(code == 0, err);
            Assert.Contains("5 rows in 2 row groups", output);
            Assert.Matches(@"arrival_time\s+INT64\s+Timestamp\(MICROS, UTC\)\s+required", output);
            Assert.Matches(@"model\s+BYTE_ARRAY\s+String\s+optional", output);
            Assert.Contains("source = test", output);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void HeadPrintsTheFirstRowsAcrossRowGroups()
    {
        var path = WriteTrace();
        try
        {
            var (code, output, err) = Run("parquet", "head", path, "-n", "4");
            Assert.True(code == 0, err);
            var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Contains("2024-01-01T00:00:00.5Z", output);
            Assert.Matches(@"2024-01-01T00:00:02Z\s+40\s+null\s+a", output);
            Assert.Contains("(4 of 5 rows)", output);
            Assert.Equal(2 + 4 + 1, lines.Length);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void StatsJsonGivesCountsSumsMinAndMax()
    {
        var path = WriteTrace();
        try
        {
            var (code, output, err) = Run("parquet", "stats", path, "--json");
            Assert.True(code == 0, err);
            using var doc = JsonDocument.Parse(output);
            var root = doc.RootElement;
            Assert.Equal(5, root.GetProperty("rows").GetInt64());
            var tokens = root.GetProperty("columns").GetProperty("input_tokens");
            Assert.Equal(5, tokens.GetProperty("non_null").GetInt64());
            Assert.Equal(150, tokens.GetProperty("sum").GetInt64());
            Assert.Equal(10, tokens.GetProperty("min").GetInt64());
            Assert.Equal(50, tokens.GetProperty("max").GetInt64());
            var energy = root.GetProperty("columns").GetProperty("energy_j");
            Assert.Equal(3, energy.GetProperty("non_null").GetInt64());
            Assert.Equal(8.0, energy.GetProperty("sum").GetDouble());
            var model = root.GetProperty("columns").GetProperty("model");
            Assert.Equal(4, model.GetProperty("non_null").GetInt64());
            Assert.Equal("a", model.GetProperty("min").GetString());
            Assert.Equal("c", model.GetProperty("max").GetString());
            Assert.Equal(JsonValueKind.Null, model.GetProperty("sum").ValueKind);
            var ts = root.GetProperty("columns").GetProperty("arrival_time");
            Assert.Equal("2024-01-01T00:00:00Z", ts.GetProperty("min").GetString());
            Assert.Equal("2024-01-01T00:00:03Z", ts.GetProperty("max").GetString());

            var (code2, text, _) = Run("parquet", "stats", path);
            Assert.Equal(0, code2);
            Assert.Matches(@"input_tokens\s+INT32\s+5\s+5\s+10\s+50\s+150", text);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void StatsAndHeadOnAFixtureWithAListColumn()
    {
        var (code, output, err) = Run("parquet", "stats", Fixture("datapage_v2.snappy.parquet"), "--json");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(output);
        var cols = doc.RootElement.GetProperty("columns");
        Assert.Equal(15, cols.GetProperty("b").GetProperty("sum").GetInt64());
        // e: [1,2,3], null, null, [1,2,3], [1,2]; statistics of a list column are over its elements.
        var e = cols.GetProperty("e");
        Assert.Equal(8, e.GetProperty("non_null").GetInt64());
        Assert.Equal(15, e.GetProperty("sum").GetInt64());
        Assert.Equal(3, e.GetProperty("max").GetInt64());
        var (code2, head, err2) = Run("parquet", "head", Fixture("datapage_v2.snappy.parquet"));
        Assert.True(code2 == 0, err2);
        Assert.Contains("[1, 2, 3]", head);
        Assert.Contains("[1, 2]", head);
    }

    [Fact]
    public void MissingFileIsOneClearErrorLine()
    {
        var (code, _, err) = Run("parquet", "head", "/no/such/file.parquet");
        Assert.NotEqual(0, code);
        Assert.Equal("error: /no/such/file.parquet: no such file", err.Trim());
    }

    [Fact]
    public void NonParquetFileIsOneClearErrorLine()
    {
        var path = Path.GetTempFileName();
        File.WriteAllText(path, "id,name\n1,a\n");
        try
        {
            var (code, _, err) = Run("parquet", "schema", path);
            Assert.NotEqual(0, code);
            Assert.Single(err.Trim().Split('\n'));
            Assert.Contains("not a Parquet file", err);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void BenchWritesKeepsAndRereadsASmallFile()
    {
        var keep = Path.Combine(Path.GetTempPath(), $"joules-bench-{Guid.NewGuid():N}.parquet");
        try
        {
            var (code, output, err) = Run("parquet", "bench", "--rows", "50000", "--codec", "zstd", "--row-group-rows", "20000", "--keep", keep, "--repeat", "1");
            Assert.True(code == 0, err);
            Assert.Matches(@"zstd\s+write\s+[\d,]+ rows/s", output);
            Assert.Contains("peak working set", output);
            Assert.True(File.Exists(keep));
            var (code2, output2, err2) = Run("parquet", "bench", "--read-only", keep, "--repeat", "1");
            Assert.True(code2 == 0, err2);
            Assert.Contains("50,000 rows", output2);
        }
        finally { File.Delete(keep); }
    }

    [Fact]
    public void FuzzRunsABoundedNumberOfCases()
    {
        var (code, output, err) = Run("parquet", "fuzz", "--cases", "200", "--seed", "7", "--seeds", Path.GetDirectoryName(Fixture("alltypes_plain.parquet"))!);
        Assert.True(code == 0, err + output);
        Assert.Contains("200 cases", output);
        Assert.Contains("0 failures", output);
    }

    [Theory]
    [InlineData("schema")]
    [InlineData("head")]
    [InlineData("stats")]
    public void AFolderOrATextFileIsReportedAsWhatItIs(string command)
    {
        var dir = Path.Combine(Path.GetTempPath(), "joules-parquet-cli", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var (code, _, err) = Run("parquet", command, dir);
        Assert.NotEqual(0, code);
        Assert.Contains("is a folder, not a Parquet file", err);
        var text = Path.Combine(dir, "t.parquet");
        File.WriteAllText(text, "TIMESTAMP,ContextTokens\n");
        (code, _, err) = Run("parquet", command, text);
        Assert.NotEqual(0, code);
        Assert.Contains("t.parquet: not a Parquet file", err);
        Directory.Delete(dir, true);
    }
}
