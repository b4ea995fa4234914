using System.Net.Sockets;
using Joules.Calibration.Engine;
using Joules.Cuda;
using Joules.Output;
using Joules.Profiles;
using Joules.Serving.Engines;
using Joules.Serving.Http;
using Joules.Serving.Loop;
using Joules.Simulation;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using S = Joules.Simulation.Settings.SimulateSettings;

namespace Joules.Serving;

/// <summary>
/// `joules serve` as a library: resolves the settings the way `joules simulate` does (same defaults, one instance),
/// builds the engine (gpu or sim), the real-time loop and the HTTP server, runs until cancelled, then drains: new
/// requests get 503, running ones may finish within the drain timeout, the rest are aborted.
/// </summary>
public sealed class ServeHost : IAsyncDisposable
{
    private readonly IterationLog? _log;
    private readonly TimeSpan _drain;
    private readonly string _url;
    private bool _started;
    private bool _stopped;

    private ServeHost(ServeInfo info, ServingLoop loop, WebApplication app, IterationLog? log, TimeSpan drain, string? predictor, string url)
    {
        Info = info;
        Loop = loop;
        App = app;
        _log = log;
        _drain = drain;
        Predictor = predictor;
        _url = url;
    }

    public ServeInfo Info { get; }
    public ServingLoop Loop { get; }
    public WebApplication App { get; }
    /// <summary>The cost model that prices (sim) or predicts (gpu, in the iteration log) each iteration.</summary>
    public string? Predictor { get; }
    /// <summary>A warning for the console when the working directory holds another profile where the one used was found (<see cref="Scenario.ShadowedProfile"/>).</summary>
    public string? ProfileWarning { get; private init; }

    /// <summary>Builds everything from the settings in <paramref name="spec"/> (unset ones take their defaults).</summary>
    /// <param name="spec">The settings of <see cref="ServeSettings.All"/> that were given.</param>
    /// <param name="profileRoot">Where shipped measured profiles live.</param>
    /// <param name="configure">Last changes to the web host (tests: the in-memory server).</param>
    public static ServeHost Create(ScenarioSpec spec, string? profileRoot, Action<WebApplicationBuilder>? configure = null)
    {
        var scenario = spec.Over(new ScenarioSpec().With(S.Instances, 1)).Resolve(profileRoot);
        var d = scenario.Cluster.Deployment!;
        var engineCfg = scenario.Cluster.Engine;
        var scheduler = engineCfg.Scheduler(d.Model.MaxContext);
        var blocks = engineCfg.KvBlocks(d.Gpu, d.Shard);
        var kind = spec.GetOr(ServeSettings.Engine, ServeSettings.Gpu);
        IIterationEngine engine;
        ICostModel? predict;
        if (kind == ServeSettings.Sim)
        {
            predict = scenario.CreateCostModel();
            engine = new SimulatedEngine(predict, blocks);
        }
        else
        {
            if (d.TensorParallel != 1) throw new ArgumentException($"--engine gpu serves one GPU (tp 1); the configuration asks for tp {d.TensorParallel}");
            // Without the driver the engine's first CUDA call fails deep inside; say what is missing and what serves without it.
            if (!NativeLibraries.TryLoad(NativeLibraries.Cuda))
                throw new DllNotFoundException("no CUDA GPU: could not load libcuda, the NVIDIA driver's library (--engine sim serves without a GPU)");
            engine = new GpuEngine(d.Model, new ServingEngineOptions
            {
                Device = spec.GetOr(ServeSettings.Device, 0),
                Seed = (uint)spec.GetOr(ServeSettings.Seed, 1234),
                BlockSize = scheduler.BlockSize,
                MaxBatchedTokens = scheduler.MaxNumBatchedTokens,
                MaxSequences = scheduler.MaxNumSeqs,
                MaxModelLen = scheduler.MaxModelLen,
                KvBlocks = blocks,
                UseGraphs = spec.GetOr(ServeSettings.CudaGraphs, true),
                DecodeKernel = Joules.Calibration.Engine.DecodeKernels.Parse(spec.GetOr(ServeSettings.DecodeKernel, ServeSettings.DecodeKernel.DefaultText)),
                PrefillAttention = Joules.Calibration.Engine.PrefillAttentions.Parse(spec.GetOr(ServeSettings.PrefillAttention, ServeSettings.PrefillAttention.DefaultText)),
            });
            predict = scenario.CreateCostModel();
        }
        IterationLog? log = null;
        try
        {
            log = OpenLog(spec.Text(ServeSettings.IterationLog));
            var loop = new ServingLoop(engine, scheduler, predict, log);
            var info = new ServeInfo(spec.Text(ServeSettings.ServedModelName) ?? d.Model.Name, d.Model.Name, engine.Kind, d.Gpu.Name, engine.DeviceName,
                engine.DeviceUuid, scheduler, engine.KvBlocks, scenario.CostModelNote ?? predict?.Name, engine.Kernels);
            var host = spec.Text(ServeSettings.Host) ?? "0.0.0.0";
            var url = $"http://{(host.Contains(':') ? $"[{host}]" : host)}:{spec.GetOr(ServeSettings.Port, 8000)}";
            var app = OpenAiServer.Build(loop, info, [url], configure);
            return new ServeHost(info, loop, app, log, TimeSpan.FromSeconds(spec.GetOr(ServeSettings.DrainTimeout, 30.0)), info.CostModel, url)
            {
                ProfileWarning = scenario.ShadowedProfile,
            };
        }
        catch
        {
            log?.Dispose();
            engine.Dispose();
            throw;
        }
    }

    /// <summary>Opens the iteration log now, so that a path that cannot be written fails before the server listens rather than when it stops.</summary>
    private static IterationLog? OpenLog(string? path)
    {
        if (path is null) return null;
        // .NET reports a file where a folder should be as "the file already exists", which reads as if the log were the file.
        for (var dir = Path.GetDirectoryName(Path.GetFullPath(path)); dir is not null; dir = Path.GetDirectoryName(dir))
            if (File.Exists(dir)) throw new IOException($"{ServeSettings.IterationLog.OptionName}: cannot write {path}: {dir} is a file, not a folder");
        try { return new IterationLog(path); }
        catch (OutputRefusedException e) { throw new OutputRefusedException($"{ServeSettings.IterationLog.OptionName}: {e.Message}"); }
        catch (UnauthorizedAccessException)
        {
            throw new IOException($"{ServeSettings.IterationLog.OptionName}: cannot write {path}: permission denied; give a file in a folder you can write to");
        }
        catch (IOException e)
        {
            throw new IOException($"{ServeSettings.IterationLog.OptionName}: cannot write {path}: {e.Message}", e);
        }
    }

    /// <summary>Where the server listens once started.</summary>
    public IEnumerable<string> Urls => App.Urls;

    /// <summary>Starts listening; an address that cannot be listened on is an <see cref="IOException"/> naming it and why.</summary>
    public async Task StartAsync(CancellationToken cancel = default)
    {
        EnsurePoolWorkers();
        try { await App.StartAsync(cancel); }
        catch (Exception e) when (ListenProblem(e) is { } why)
        {
            throw new IOException($"cannot listen on {_url}: {why}", e);
        }
        _started = true;
    }

    // Kestrel throws the socket's error as it is for some failures (an address not on this machine) and wraps it for
    // others (a port in use): find it wherever it is.
    private static string? ListenProblem(Exception e)
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
        {
            if (x is SocketException { SocketErrorCode: SocketError.AddressAlreadyInUse } || x is AddressInUseException)
                return "the address is already in use (another server listens there; choose another --port)";
            if (x is SocketException { SocketErrorCode: SocketError.AddressNotAvailable } s)
                return $"{s.Message} (the address is not one of this machine's; 0.0.0.0 listens on all of them)";
            if (x is SocketException other) return other.Message;
        }
        return null;
    }

    /// <summary>Fewest thread-pool workers the server keeps on call (see <see cref="EnsurePoolWorkers"/>).</summary>
    public const int MinPoolWorkers = 32;

    /// <summary>
    /// Raises the process's minimum of thread-pool workers to <see cref="MinPoolWorkers"/> (never lowers it): requests
    /// reach the loop and its tokens reach their clients through pool threads, and on a loaded 2-core machine a pool
    /// kept at the core count ran nothing for up to 0.9 s at a time until its starvation check added a worker, which
    /// clients measure as TTFT and E2E the loop never spent (the same floor as Joules.Replay's ReplayRunner).
    /// </summary>
    public static void EnsurePoolWorkers()
    {
        ThreadPool.GetMinThreads(out var workers, out var io);
        if (workers < MinPoolWorkers) ThreadPool.SetMinThreads(MinPoolWorkers, io);
    }

    /// <summary>Drains (503 for new requests, running ones finish or are aborted after the drain timeout), then stops the server and the loop.</summary>
    public async Task StopAsync()
    {
        if (_stopped) return;
        _stopped = true;
        await Loop.DrainAsync(_drain);
        await App.StopAsync();
        Loop.Dispose();
        // A server that never listened leaves no log (DisposeAsync deletes the partial file).
        if (_log is null || !_started) return;
        try { _log.Complete(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"{ServeSettings.IterationLog.OptionName}: could not write {_log.Path}: {e.Message}", e);
        }
    }

    /// <summary>Serves until <paramref name="stop"/> is cancelled, then drains and stops.</summary>
    public async Task RunAsync(CancellationToken stop)
    {
        await StartAsync(CancellationToken.None);
        try { await Task.Delay(Timeout.Infinite, stop); }
        catch (OperationCanceledException) { }
        await StopAsync();
    }

    public async ValueTask DisposeAsync()
    {
        try { await StopAsync(); }
        finally
        {
            await App.DisposeAsync();
            Loop.Engine.Dispose();
            _log?.Dispose();
        }
    }
}
