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
    [InlineData(new[] { "serve", "--host", "not-a-host" }, "--host: 'not-a-host' is not an IP address or localhost (give the port with --port)")]
    [InlineData(new[] { "serve", "--host", "127.0.0.1:9000" }, "--host: '127.0.0.1:9000' is not an IP address or localhost (give the port with --port)")]
    [InlineData(new[] { "serve", "--host", "http://127.0.0.1" }, "--host: 'http://127.0.0.1' is not an IP address or localhost (give the port with --port)")]
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
        Assert.DoesNotContain("looks like a bug", err);
    }

    [Fact]
    public void AFolderAsTheIterationLogFailsBeforeListening()
    {
        var dir = Directory.CreateTempSubdirectory("joules-cli-serve-").FullName;
        try
        {
            // A start that wrongly succeeded would serve until cancelled.
            using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            var (code, output, err) = Run(limit.Token, "serve", "--engine", "sim", "--host", "127.0.0.1", "--port", FreePort().ToString(), "--iteration-log", dir);
            Assert.Equal(1, code);
            Assert.Contains($"error: --iteration-log: {dir} is a folder; give the name of a file to write", err);
            Assert.DoesNotContain("looks like a bug", err);
            Assert.DoesNotContain("listening on", output);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void AnAddressThatCannotBeListenedOnIsAUserError()
    {
        var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        try
        {
            var port = ((IPEndPoint)taken.LocalEndpoint).Port;
            using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            var (code, _, err) = Run(limit.Token, "serve", "--engine", "sim", "--host", "127.0.0.1", "--port", port.ToString());
            Assert.Equal(1, code);
            Assert.Contains($"error: cannot listen on http://127.0.0.1:{port}: the address is already in use", err);
            Assert.DoesNotContain("looks like a bug", err);
            // 192.0.2.1 is TEST-NET-1 (RFC 5737): never an address of this machine.
            (code, _, err) = Run(limit.Token, "serve", "--engine", "sim", "--host", "192.0.2.1", "--port", port.ToString());
            Assert.Equal(1, code);
            Assert.Contains($"error: cannot listen on http://192.0.2.1:{port}: ", err);
            Assert.DoesNotContain("looks like a bug", err);
        }
        finally { taken.Stop(); }
    }

    [Fact]
    public void ServingOnTheGpuWithoutADriverIsAUserError()
    {
        // With a driver the GPU engine would start; this is about machines without one (where the suite usually runs).
        if (Joules.Cuda.NativeLibraries.TryLoad(Joules.Cuda.NativeLibraries.Cuda)) return;
        var (code, _, err) = Run("serve", "--port", FreePort().ToString());
        Assert.Equal(1, code);
        Assert.Equal("error: no CUDA GPU: could not load libcuda, the NVIDIA driver's library (--engine sim serves without a GPU)", err.Trim());
    }

    private static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        var port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
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
