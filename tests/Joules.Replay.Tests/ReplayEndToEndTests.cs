using Joules.Parquet;
using Joules.Reports;
using Joules.Simulation;
using Xunit;
using S = Joules.Simulation.Settings.SimulateSettings;

namespace Joules.Replay.Tests;

/// <summary>`joules replay` against a `joules serve --engine sim` endpoint over a real loopback port.</summary>
public class ReplayEndToEndTests
{
    private static string ShippedTrace => Path.Combine(Joules.Tests.RepoPaths.Root, ShippedData.DefaultTrace);

    [Fact]
    public async Task AReplayWritesTheSimulatorsSchemaPlusItsMetadata()
    {
        await using var server = await SimEndpoint.Start();
        var run = await ReplayRunner.RunAsync(new ReplayOptions
        {
            Endpoint = server.Url, TracePath = ShippedTrace, Window = new ReplayWindow { DurationS = 6, RateScale = 3 }, Command = "test",
        });
        var m = run.Metadata;
        Assert.True(m.RequestsSent > 5);
        Assert.Equal(m.RequestsSent, m.RequestsCompleted);
        Assert.Equal("endpoint", m.Energy.Source);
        Assert.True(m.Energy.Joules > 0);
        Assert.Equal("55737", m.Server!.CacheConfig!["num_gpu_blocks"]);
        Assert.Equal("sim", m.Server.EngineConfig!["engine"]);
        Assert.True(m.Server.Counter("joules:iterations_total") > 0);
        Assert.Equal(0, m.Server.IterationsAtStart);
        Assert.True(m.ScheduleLag.P50 >= 0);
        // The replay keeps workers on call for the pool threads its clocks are read on.
        ThreadPool.GetMinThreads(out var workers, out _);
        Assert.True(workers >= ReplayRunner.MinPoolWorkers);
        foreach (var r in run.Requests)
        {
            Assert.Equal(r.OutputTokensAsked, r.OutputTokens);
            Assert.Equal(r.OutputTokens, r.TokenTimes.Length);
            Assert.True(r.FirstTokenS >= r.SentS && r.DoneS >= r.TokenTimes[^1]);
        }

        var dir = Directory.CreateTempSubdirectory("joules-replay-").FullName;
        try
        {
            var folder = ReplayOutputs.Write(Path.Combine(dir, "run"), run);
            // What the command says it wrote is what is there (queue-order.parquet was left out of the line).
            Assert.Equal(ReplayOutputs.Files(run).Order(), Directory.EnumerateFiles(folder).Select(Path.GetFileName).Where(f => !f!.StartsWith('.')).Order());
            // The same columns, in the same order, as `joules simulate --out` writes.
            var reference = Path.Combine(dir, "ref");
            using (var sink = new TableSink(new ParquetTableWriter(reference + "-requests.parquet"), new ParquetTableWriter(reference + "-power.parquet")))
                sink.Complete();
            foreach (var table in new[] { "requests", "power" })
            {
                using var a = ParquetFileReader.Open(Path.Combine(folder, table + ".parquet"));
                using var b = ParquetFileReader.Open(reference + $"-{table}.parquet");
                Assert.Equal(b.Schema.Select(c => (c.Name, c.ToString())), a.Schema.Select(c => (c.Name, c.ToString())));
            }
            using (var rq = ParquetFileReader.Open(Path.Combine(folder, "requests.parquet"))) Assert.Equal(m.RequestsSent, rq.RowCount);
            using (var tk = ParquetFileReader.Open(Path.Combine(folder, "tokens.parquet"))) Assert.Equal(run.Requests.Sum(r => r.TokenTimes.Length), tk.RowCount);
            var back = RunMetadata.Load(folder);
            Assert.Equal(m.Trace.Sha256, back.Trace.Sha256);
            Assert.Equal(6, back.Trace.DurationS);
            Assert.Contains("\"energy_j\"", File.ReadAllText(Path.Combine(folder, "summary.json")));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public async Task RequestsTheEndpointRefusesAreRecordedWithTheirReason()
    {
        await using var server = await SimEndpoint.Start(s => s.With(S.MaxModelLen, 512));
        var run = await ReplayRunner.RunAsync(new ReplayOptions
        {
            Endpoint = server.Url, TracePath = ShippedTrace, Window = new ReplayWindow { Limit = 12, Offline = true },
        });
        var refused = run.Requests.Where(r => r.InputTokens + r.OutputTokensAsked > 512).ToList();
        Assert.NotEmpty(refused);
        Assert.All(refused, r =>
        {
            Assert.True(r.Failed);
            Assert.Equal(400, r.Status);
            Assert.Equal(RejectReason.MaxModelLen, ReplayOutputs.ToResult(r).Reason);
        });
        Assert.All(run.Requests.Except(refused), r => Assert.False(r.Failed));
        Assert.Equal(refused.Count, run.Metadata.RequestsFailed);
        Assert.NotEmpty(run.Metadata.Errors);
    }

    [Fact]
    public async Task AnEndpointThatIsNotThereIsAClearError()
    {
        var e = await Assert.ThrowsAsync<IOException>(() => ReplayRunner.RunAsync(new ReplayOptions
        {
            Endpoint = new Uri("http://127.0.0.1:9/"), TracePath = ShippedTrace, Window = new ReplayWindow { Limit = 1 },
        }));
        Assert.Contains("is the server running?", e.Message);
    }
}
