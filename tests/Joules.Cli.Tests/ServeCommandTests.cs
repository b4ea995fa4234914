using System.Net;
using System.Net.Sockets;
using Joules.Cli;
using Xunit;

namespace Joules.Cli.Tests;

/// <summary>The wiring of `joules serve`, `joules replay` and `joules validate`: options, messages, exit codes, a whole round on CPU.</summary>
public class ServeCommandTests
{
    private static (int Code, string Out, string Err) Run(CancellationToken cancel, params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        var code = Program.Run(args, o, e, cancel);
        return (code, o.ToString(), e.ToString());
    }

    private static (int Code, string Out, string Err) Run(params string[] args) => Run(CancellationToken.None, args);

    [Fact]
    public void HelpShowsTheSharedAndOwnSettingsWithVllmDefaults()
    {
        var (code, output, _) = Run("serve", "--help");
        Assert.Equal(0, code);
        foreach (var o in new[] { "--engine", "--port", "--max-num-seqs", "--max-num-batched-tokens", "--max-model-len", "--drain-timeout", "--iteration-log" })
            Assert.Contains(o, output);
        Assert.Contains("8000", output);
        Assert.Contains("--iteration-overhead-ms", Run("validate", "--help").Out);
        Assert.Contains("--iteration-log", Run("validate", "--help").Out);
        Assert.Contains("--rate-scale", Run("replay", "--help").Out);
    }

    [Theory]
    [InlineData(new[] { "serve", "--engine", "tpu" }, "--engine: 'tpu' is not one of gpu, sim")]
    [InlineData(new[] { "serve", "--port", "70000" }, "--port: must be at most 65535")]
    [InlineData(new[] { "replay", "--out", "x", "--rate-scale", "0" }, "--rate-scale: '0' is not a positive number")]
    [InlineData(new[] { "replay", "--out", "x", "--endpoint", "ftp://a" }, "--endpoint: 'ftp://a' is not an http(s) URL")]
    [InlineData(new[] { "replay", "--out", "x", "--duration", "soon" }, "--duration: 'soon' is not a duration")]
    [InlineData(new[] { "validate", "/no/such/run" }, "/no/such/run: no such folder")]
    public void BadInputIsOneClearLine(string[] args, string message)
    {
        var (code, _, err) = Run(args);
        Assert.Equal(1, code);
        Assert.Contains(message, err);
        Assert.DoesNotContain("   at ", err);
    }

    [Fact]
    public void ReplayNeedsAnOutputFolder()
    {
        var (code, _, err) = Run("replay");
        Assert.Equal(1, code);
        Assert.Contains("--out", err);
    }

    [Fact]
    public async Task ServeReplayValidateRoundTripOnCpu()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        var port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        using var stop = new CancellationTokenSource();
        var dir = Directory.CreateTempSubdirectory("joules-cli-serve-").FullName;
        var log = Path.Combine(dir, "iterations.parquet");
        var serve = Task.Run(() => Run(stop.Token, "serve", "--engine", "sim", "--host", "127.0.0.1", "--port", port.ToString(), "--iteration-log", log));
        using (var http = new HttpClient())
            for (var i = 0; i < 200; i++)
            {
                try { if ((await http.GetAsync($"http://127.0.0.1:{port}/health")).IsSuccessStatusCode) break; }
                catch (HttpRequestException) { }
                await Task.Delay(50);
            }
        var stopped = false;
        try
        {
            var run = Path.Combine(dir, "run");
            var replay = Run("replay", "-e", $"http://127.0.0.1:{port}", "--limit", "8", "--rate-scale", "4", "--out", run);
            Assert.True(replay.Code == 0, replay.Err);
            Assert.Contains("8 requests sent", replay.Out);
            var ok = Run("validate", run);
            Assert.Equal(0, ok.Code);
            Assert.Contains("energy_j", ok.Out);
            Assert.True(File.Exists(Path.Combine(run, "validation.json")) && File.Exists(Path.Combine(run, "validation.html")));
            var missed = Run("validate", run, "--max-energy-error", "0");
            Assert.Equal(2, missed.Code);
            Assert.Contains("MISSED", missed.Out);
            // The iteration log is complete once the server stopped; then each iteration's host time can be replayed.
            stop.Cancel();
            stopped = true;
            var (code, output, _) = await serve;
            Assert.Equal(0, code);
            Assert.Contains("stopped: ", output);
            var per = Run("validate", run, "--iteration-log", log);
            Assert.True(per.Code == 0, per.Err);
            Assert.Contains("host time: measured per iteration", per.Out);
            var both = Run("validate", run, "--iteration-log", log, "--iteration-overhead-ms", "1");
            Assert.Equal(1, both.Code);
            Assert.Contains("not both", both.Err);
        }
        finally
        {
            if (!stopped)
            {
                stop.Cancel();
                await serve;
            }
            Directory.Delete(dir, true);
        }
    }
}
