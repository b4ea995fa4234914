using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using Joules.Traces;

namespace Joules.Replay;

/// <summary>Where energy comes from in a replay.</summary>
public enum EnergyMode
{
    /// <summary>Local NVML GPUs when there are any, else the endpoint's own counter when it has one, else none.</summary>
    Auto,
    Nvml,
    Endpoint,
    None,
}

/// <summary>Everything `joules replay` needs: the endpoint, the trace and its window, the load shape and how to measure.</summary>
public sealed record ReplayOptions
{
    public required Uri Endpoint { get; init; }
    public required string TracePath { get; init; }
    public ReplayWindow Window { get; init; } = new();
    /// <summary>Most requests in flight at once (later ones wait and their lag grows); null: unlimited (open loop).</summary>
    public int? MaxConcurrency { get; init; }
    /// <summary>The served model name; null: the first one /v1/models lists.</summary>
    public string? Model { get; init; }
    /// <summary>Send ignore_eos and min_tokens so the trace's output lengths are honoured.</summary>
    public bool IgnoreEos { get; init; } = true;
    /// <summary>Seed of the prompt token ids.</summary>
    public int Seed { get; init; }
    public EnergyMode Energy { get; init; } = EnergyMode.Auto;
    /// <summary>NVML indices of the GPUs to measure; null: all.</summary>
    public IReadOnlyList<int>? Gpus { get; init; }
    public double SampleIntervalS { get; init; } = 0.1;
    /// <summary>Longest a single request may take, in seconds.</summary>
    public double RequestTimeoutS { get; init; } = 3600;
    /// <summary>The command line, for the run metadata.</summary>
    public string Command { get; init; } = "";
    public string ToolVersion { get; init; } = "";
}

/// <summary>A finished replay: every measured request, the power samples, the energy and the metadata.</summary>
public sealed record ReplayResult(IReadOnlyList<MeasuredRequest> Requests, EnergySampler? Sampler, RunMetadata Metadata);

/// <summary>
/// The open-loop load generator of `joules replay`: sends each request of the plan at its time (a dedicated thread,
/// sleeping then spinning to the instant), streams every answer and times each chunk, samples energy throughout, and
/// reads the endpoint's /metrics before and after. Works against any OpenAI-compatible endpoint.
/// </summary>
public static class ReplayRunner
{
    public static async Task<ReplayResult> RunAsync(ReplayOptions o, Action<string>? progress = null, CancellationToken cancel = default)
    {
        EnsurePoolWorkers();
        var source = Joules.Traces.TraceSource.Open(o.TracePath, cancel: cancel);
        var plan = ReplayPlan.Build(source.Read(cancel), o.Window);
        var baseUri = o.Endpoint.AbsoluteUri.EndsWith('/') ? o.Endpoint : new Uri(o.Endpoint.AbsoluteUri + "/");
        using var http = new HttpClient(new SocketsHttpHandler
        {
            MaxConnectionsPerServer = int.MaxValue,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            AutomaticDecompression = DecompressionMethods.None,
        })
        { Timeout = Timeout.InfiniteTimeSpan };

        var model = o.Model ?? await EndpointProbe.FirstModelAsync(http, baseUri, cancel);
        var before = await EndpointProbe.MetricsAsync(http, baseUri, cancel);
        using var energy = ChooseEnergy(o, http, baseUri, before);
        var client = new OpenAiStreamClient(http, baseUri, model, o.IgnoreEos);
        // Prompts are made before the clock starts, so sending costs no more than the HTTP call.
        var prompts = plan.Select(p => PromptTokens.For(p.RequestId, p.InputTokens, o.Seed)).ToArray();

        var clock = Stopwatch.StartNew();
        double Now() => clock.Elapsed.TotalSeconds;
        // Every time of the run (sends, tokens, power samples) counts from t0, the first request's scheduled send; the
        // energy window opens just before it (the sampler's first reading) and closes after the last response.
        var t0 = Now();
        EnergySampler? sampler = energy is null ? null : new EnergySampler(energy, o.SampleIntervalS, () => Now() - t0);
        using var stopSampling = new CancellationTokenSource();
        Task sampling = Task.CompletedTask;
        if (sampler is not null)
        {
            await sampler.StartAsync(cancel);
            sampling = Task.Run(() => sampler.RunAsync(stopSampling.Token), CancellationToken.None);
        }
        t0 = Now();
        var results = new MeasuredRequest[plan.Count];
        var tasks = new Task[plan.Count];
        using var gate = o.MaxConcurrency is { } cap ? new SemaphoreSlim(cap) : null;
        long done = 0;
        var dispatcher = new Thread(() =>
        {
            for (var i = 0; i < plan.Count; i++)
            {
                if (cancel.IsCancellationRequested) { for (; i < plan.Count; i++) tasks[i] = Task.CompletedTask; return; }
                WaitUntil(clock, t0 + plan[i].SendS, cancel);
                gate?.Wait(cancel);
                var k = i;
                tasks[k] = Task.Run(async () =>
                {
                    using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancel);
                    timeout.CancelAfter(TimeSpan.FromSeconds(o.RequestTimeoutS));
                    try
                    {
                        results[k] = await client.SendAsync(plan[k], prompts[k], () => Now() - t0, timeout.Token);
                    }
                    finally
                    {
                        gate?.Release();
                        Interlocked.Increment(ref done);
                    }
                }, CancellationToken.None);
            }
        }) { IsBackground = true, Name = "joules replay dispatcher", Priority = ThreadPriority.AboveNormal };
        dispatcher.Start();

        var lastReport = Stopwatch.StartNew();
        while (dispatcher.IsAlive || Interlocked.Read(ref done) < plan.Count)
        {
            await Task.Delay(50, CancellationToken.None);
            if (cancel.IsCancellationRequested && !dispatcher.IsAlive) break;
            if (progress is not null && lastReport.Elapsed.TotalSeconds >= 10)
            {
                lastReport.Restart();
                progress($"{Now() - t0:F0} s: {Interlocked.Read(ref done):N0} of {plan.Count:N0} requests done");
            }
        }
        dispatcher.Join();
        await Task.WhenAll(tasks.Where(t => t is not null));
        cancel.ThrowIfCancellationRequested();
        var end = Now() - t0;
        if (sampler is not null)
        {
            await sampler.StopAsync(CancellationToken.None);
            stopSampling.Cancel();
            await sampling;
        }
        var after = await EndpointProbe.MetricsAsync(http, baseUri, CancellationToken.None);

        var lags = results.Select(r => r.LagS).Order().ToArray();
        var meta = new RunMetadata
        {
            ToolVersion = o.ToolVersion,
            Command = o.Command,
            CreatedUtc = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ"),
            Endpoint = o.Endpoint.ToString(),
            Model = model,
            Trace = new RunTrace
            {
                Path = o.TracePath, Sha256 = Sha256(o.TracePath), StartS = o.Window.StartS, DurationS = o.Window.DurationS, Limit = o.Window.Limit,
                RateScale = o.Window.RateScale, Offline = o.Window.Offline, MaxConcurrency = o.MaxConcurrency, IgnoreEos = o.IgnoreEos, Seed = o.Seed,
                Requests = plan.Count,
            },
            RequestsSent = results.Length,
            RequestsCompleted = results.Count(r => !r.Failed),
            RequestsFailed = results.Count(r => r.Failed),
            DurationS = end,
            ScheduleLag = new LagStats(lags.Average(), Quantile(lags, 0.5), Quantile(lags, 0.99), lags[^1]),
            Energy = sampler is null
                ? new RunEnergy()
                : new RunEnergy { Source = energy!.Kind, Joules = sampler.TotalJoules, SampleIntervalS = o.SampleIntervalS, Gpus = energy.Gpus },
            Server = EndpointProbe.Server(before, after),
            Errors = results.Where(r => r.Failed).Select(r => r.Error!).Distinct().Take(5).ToArray(),
        };
        return new ReplayResult(results, sampler, meta);
    }

    private static IEnergySource? ChooseEnergy(ReplayOptions o, HttpClient http, Uri baseUri, IReadOnlyList<PrometheusSample>? metrics)
    {
        var endpointHas = metrics is not null && PrometheusText.Sum(metrics, EndpointEnergySource.Metric) is not null;
        string Device() => metrics is null ? "endpoint" : PrometheusText.Labels(metrics, "joules:engine_config_info")?.GetValueOrDefault("device") ?? "endpoint";
        switch (o.Energy)
        {
            case EnergyMode.None: return null;
            case EnergyMode.Nvml:
                try { return new NvmlEnergySource(o.Gpus); }
                catch (DllNotFoundException e)
                {
                    throw new DllNotFoundException($"--energy nvml: no NVIDIA GPU to measure: {e.Message}; --energy endpoint or none replays without one", e);
                }
            case EnergyMode.Endpoint:
                if (!endpointHas) throw new ArgumentException($"--energy endpoint: {baseUri}metrics has no {EndpointEnergySource.Metric}");
                return new EndpointEnergySource(http, baseUri, Device());
            default:
                if (o.Gpus is not null || NvmlEnergySource.Available()) return new NvmlEnergySource(o.Gpus);
                return endpointHas ? new EndpointEnergySource(http, baseUri, Device()) : null;
        }
    }

    /// <summary>Fewest thread-pool workers a replay keeps on call (see <see cref="EnsurePoolWorkers"/>).</summary>
    public const int MinPoolWorkers = 32;

    /// <summary>
    /// Raises the process's minimum of thread-pool workers to <see cref="MinPoolWorkers"/> (never lowers it). Every time a
    /// replay records (a send, each streamed token) is read on a pool thread. With the minimum at the core count, a
    /// loaded 2-core machine had the pool run nothing for 0.5-0.9 s in 5 of 9 runs (dozens of items queued until the
    /// pool's starvation check added a worker): sends went out up to 0.8 s late and every token behind them arrived late,
    /// time that no server figure holds. With 32 workers on call, none in 9 runs beside them (send lag at most 54 ms).
    /// </summary>
    public static void EnsurePoolWorkers()
    {
        ThreadPool.GetMinThreads(out var workers, out var io);
        if (workers < MinPoolWorkers) ThreadPool.SetMinThreads(MinPoolWorkers, io);
    }

    // Sleeps while the instant is far off (the timer is coarse), then spins to it.
    private static void WaitUntil(Stopwatch clock, double t, CancellationToken cancel)
    {
        while (true)
        {
            var left = t - clock.Elapsed.TotalSeconds;
            if (left <= 0) return;
            if (left > 0.003) cancel.WaitHandle.WaitOne(TimeSpan.FromSeconds(left - 0.002));
            else Thread.SpinWait(20);
            if (cancel.IsCancellationRequested) return;
        }
    }

    private static double Quantile(double[] sorted, double q) =>
        sorted.Length == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Length) - 1, 0, sorted.Length - 1)];

    private static string Sha256(string path)
    {
        using var f = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(f));
    }
}
