using System.Net;
using System.Text;
using System.Text.Json;
using Joules.Serving.Http;
using Xunit;
using S = Joules.Simulation.Settings.SimulateSettings;

namespace Joules.Serving.Tests;

/// <summary>The OpenAI-compatible HTTP API of `joules serve` over the sim engine: completions, streaming, errors, models, health, metrics.</summary>
public class ServerTests
{
    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    private static async Task<JsonElement> Body(HttpResponseMessage r) => JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement.Clone();

    [Fact]
    public async Task ACompletionGeneratesMaxTokensAndReportsUsage()
    {
        var (host, client) = await TestServers.InMemory();
        await using var _ = host;
        var r = await client.PostAsync("/v1/completions", Json("""{"model":"llama-3.1-8b","prompt":[5,6,7,8],"max_tokens":7,"ignore_eos":true}"""));
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        var b = await Body(r);
        Assert.Equal("text_completion", b.GetProperty("object").GetString());
        Assert.Equal("length", b.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.Equal(4, b.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(7, b.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.Equal(11, b.GetProperty("usage").GetProperty("total_tokens").GetInt32());
    }

    [Fact]
    public async Task ATextPromptIsTokenized()
    {
        var (host, client) = await TestServers.InMemory();
        await using var _ = host;
        var b = await Body(await client.PostAsync("/v1/completions", Json("""{"prompt":"The quick brown fox jumps over the lazy dog","max_tokens":2}""")));
        // cl100k_base: 9 tokens for this sentence.
        Assert.Equal(9, b.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
    }

    [Fact]
    public async Task StreamingSendsOneEventPerTokenThenUsageThenDone()
    {
        var (host, client) = await TestServers.InMemory();
        await using var _ = host;
        var r = await client.PostAsync("/v1/completions",
            Json("""{"prompt":[1,2,3],"max_tokens":5,"stream":true,"stream_options":{"include_usage":true}}"""));
        Assert.Equal("text/event-stream", r.Content.Headers.ContentType!.MediaType);
        var lines = (await r.Content.ReadAsStringAsync()).Split('\n').Where(l => l.StartsWith("data: ", StringComparison.Ordinal)).Select(l => l[6..]).ToList();
        Assert.Equal("[DONE]", lines[^1]);
        var events = lines[..^1].Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();
        var tokens = events.Where(e => e.GetProperty("choices").GetArrayLength() == 1).ToList();
        Assert.Equal(5, tokens.Count);
        Assert.All(tokens[..^1], e => Assert.Equal(JsonValueKind.Null, e.GetProperty("choices")[0].GetProperty("finish_reason").ValueKind));
        Assert.Equal("length", tokens[^1].GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        var usage = events[^1];
        Assert.Equal(0, usage.GetProperty("choices").GetArrayLength());
        Assert.Equal(5, usage.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    [Theory]
    [InlineData("""{"max_tokens":3}""", "prompt")]
    [InlineData("""{"prompt":[1,2],"max_tokens":0}""", "max_tokens")]
    [InlineData("""{"prompt":[1,2],"max_tokens":"ten"}""", "max_tokens")]
    [InlineData("""{"prompt":[1,-2]}""", "prompt")]
    [InlineData("""{"prompt":[1,2.5]}""", "prompt")]
    [InlineData("""{"prompt":[]}""", "prompt")]
    [InlineData("""{"prompt":["a","b"]}""", "prompt")]
    [InlineData("""{"prompt":{"x":1}}""", "prompt")]
    [InlineData("""{"prompt":[1],"n":2}""", "n")]
    [InlineData("""{"prompt":[1],"max_tokens":3,"min_tokens":4}""", "min_tokens")]
    [InlineData("""{"prompt":[1],"stream":"yes"}""", "stream")]
    [InlineData("""{"prompt":[1],"echo":true}""", "echo")]
    [InlineData("""{"prompt":[999999999]}""", "prompt")]
    public async Task BadRequestsGetAnOpenAiErrorNamingTheField(string body, string param)
    {
        var (host, client) = await TestServers.InMemory();
        await using var _ = host;
        var r = await client.PostAsync("/v1/completions", Json(body));
        Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        var e = (await Body(r)).GetProperty("error");
        Assert.Equal("invalid_request_error", e.GetProperty("type").GetString());
        Assert.Equal(param, e.GetProperty("param").GetString());
        Assert.False(string.IsNullOrWhiteSpace(e.GetProperty("message").GetString()));
        Assert.DoesNotContain("System.", e.GetProperty("message").GetString());
    }

    [Theory]
    [InlineData("{\"prompt\": [1, 2", "the request body is not valid JSON (at byte 16)")]
    [InlineData("{\"prompt\":[1,2],\"max_tokens\":5}}", "the request body is not valid JSON (at byte 31)")]
    // The reader counts bytes from the start of each line: the offset is in the whole body.
    [InlineData("{\n \"prompt\": [1,,2]}", "the request body is not valid JSON (at byte 16)")]
    [InlineData(" \n", "the request body is empty; expected a JSON object")]
    public async Task InvalidJsonIsA400SayingWhereItBroke(string body, string message)
    {
        var (host, client) = await TestServers.InMemory();
        await using var _ = host;
        var r = await client.PostAsync("/v1/completions", Json(body));
        Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        var e = (await Body(r)).GetProperty("error");
        Assert.Equal(message, e.GetProperty("message").GetString());
        Assert.Equal("invalid_request_error", e.GetProperty("type").GetString());
    }

    [Fact]
    public async Task APromptBeyondMaxModelLenIsRefusedAsVllmDoes()
    {
        var (host, client) = await TestServers.InMemory(s => s.With(S.MaxModelLen, 64));
        await using var _ = host;
        var prompt = string.Join(',', Enumerable.Range(100, 60));
        var r = await client.PostAsync("/v1/completions", Json($$"""{"prompt":[{{prompt}}],"max_tokens":10}"""));
        Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        var e = (await Body(r)).GetProperty("error");
        Assert.Equal("max_tokens", e.GetProperty("param").GetString());
        Assert.Contains("maximum context length is 64 tokens", e.GetProperty("message").GetString());
        var longPrompt = string.Join(',', Enumerable.Range(100, 70));
        var r2 = await client.PostAsync("/v1/completions", Json($$"""{"prompt":[{{longPrompt}}],"max_tokens":1}"""));
        Assert.Equal("prompt", (await Body(r2)).GetProperty("error").GetProperty("param").GetString());
    }

    [Fact]
    public async Task AnUnknownModelIsA404()
    {
        var (host, client) = await TestServers.InMemory();
        await using var _ = host;
        var r = await client.PostAsync("/v1/completions", Json("""{"model":"gpt-5","prompt":[1]}"""));
        Assert.Equal(HttpStatusCode.NotFound, r.StatusCode);
        // OpenAI's shape: the type is invalid_request_error, the finer reason is the code.
        var e = (await Body(r)).GetProperty("error");
        Assert.Equal("model", e.GetProperty("param").GetString());
        Assert.Equal("invalid_request_error", e.GetProperty("type").GetString());
        Assert.Equal("model_not_found", e.GetProperty("code").GetString());
    }

    [Fact]
    public async Task ModelsHealthAndMetricsAnswer()
    {
        var (host, client) = await TestServers.InMemory(s => s.With(ServeSettings.ServedModelName, "my-llama"));
        await using var _ = host;
        var models = await Body(await client.GetAsync("/v1/models"));
        Assert.Equal("my-llama", models.GetProperty("data")[0].GetProperty("id").GetString());
        Assert.Equal(131072, models.GetProperty("data")[0].GetProperty("max_model_len").GetInt32());
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health")).StatusCode);
        await client.PostAsync("/v1/completions", Json("""{"prompt":[1,2,3],"max_tokens":4}"""));
        var text = await client.GetStringAsync("/metrics");
        foreach (var name in new[] { "vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc", "vllm:num_preemptions_total",
                     "vllm:prompt_tokens_total", "vllm:generation_tokens_total", "vllm:request_success_total", "vllm:cache_config_info",
                     "joules:gpu_power_watts", "joules:gpu_energy_joules_total", "joules:engine_config_info", "joules:iterations_total" })
            Assert.Contains("\n" + name + "{", "\n" + text);
        Assert.Contains("vllm:generation_tokens_total{model_name=\"my-llama\"} 4\n", text);
        Assert.Contains("vllm:prompt_tokens_total{model_name=\"my-llama\"} 3\n", text);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/v2/nothing")).StatusCode);
    }

    [Fact]
    public async Task WhileDrainingNewRequestsGet503AndRunningOnesFinish()
    {
        var (host, client) = await TestServers.InMemory(s => s.With(ServeSettings.DrainTimeout, 30.0));
        await using var _ = host;
        var running = client.PostAsync("/v1/completions", Json("""{"prompt":[1,2,3],"max_tokens":60}"""));
        while (host.Loop.Resident == 0) await Task.Delay(5);
        var drain = host.Loop.DrainAsync(TimeSpan.FromSeconds(30));
        var refused = await client.PostAsync("/v1/completions", Json("""{"prompt":[1],"max_tokens":1}"""));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await client.GetAsync("/health")).StatusCode);
        var done = await running;
        Assert.Equal(HttpStatusCode.OK, done.StatusCode);
        Assert.Equal(60, (await Body(done)).GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        await drain;
    }

    [Fact]
    public async Task RequestsStillRunningWhenTheDrainTimeoutPassesAreAborted()
    {
        var (host, client) = await TestServers.InMemory(s => s.With(ServeSettings.DrainTimeout, 0.2));
        await using var _ = host;
        // 5,000 tokens take the sim engine about 28 s: far longer than the drain timeout.
        var whole = client.PostAsync("/v1/completions", Json("""{"prompt":[1,2,3],"max_tokens":5000,"ignore_eos":true}"""));
        var stream = client.PostAsync("/v1/completions", Json("""{"prompt":[1,2,3],"max_tokens":5000,"ignore_eos":true,"stream":true}"""));
        while (host.Loop.Snapshot.Running < 2 || host.Loop.Snapshot.GenerationTokens < 4) await Task.Delay(5);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await host.StopAsync();
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"stopping took {clock.Elapsed.TotalSeconds:F1} s");
        var w = await whole;
        Assert.Equal(HttpStatusCode.InternalServerError, w.StatusCode);
        var e = (await Body(w)).GetProperty("error");
        Assert.Equal("server_error", e.GetProperty("type").GetString());
        Assert.Contains("drain timeout (0.2 s)", e.GetProperty("message").GetString());
        var text = await (await stream).Content.ReadAsStringAsync();
        Assert.Contains("drain timeout (0.2 s)", text);
        Assert.EndsWith("data: [DONE]\n\n", text);
        Assert.Equal(2, host.Loop.Snapshot.RequestsAborted);
        Assert.Equal(0, host.Loop.Snapshot.RequestsFinished);
    }

    [Theory]
    [InlineData("127.0.0.1", "127.0.0.1")]
    [InlineData("0.0.0.0", "0.0.0.0")]
    [InlineData("::", "::")]
    [InlineData("::1", "::1")]
    [InlineData("[::1]", "::1")]
    [InlineData("localhost", "localhost")]
    public void TheHostIsAnIpAddressOrLocalhost(string text, string host) =>
        Assert.Equal(host, ServeSettings.Host.Parse(text, "--host"));

    [Theory]
    [InlineData("not-a-host")]
    [InlineData("127.0.0.1:9000")]
    [InlineData("http://127.0.0.1")]
    [InlineData("[::1]:9000")]
    [InlineData("[127.0.0.1]")]
    // Shorthands IPAddress also reads (127.0.0.1, 0.0.0.1): almost surely typos.
    [InlineData("127.1")]
    [InlineData("1")]
    public void AnythingElseGivenAsTheHostIsRefused(string text)
    {
        var e = Assert.Throws<ArgumentException>(() => ServeSettings.Host.Parse(text, "--host"));
        Assert.Equal($"--host: '{text}' is not an IP address or localhost (give the port with --port)", e.Message);
    }

    [Fact]
    public void AFolderAsTheIterationLogIsRefusedBeforeTheServerIsBuilt()
    {
        var dir = Directory.CreateTempSubdirectory("joules-serve-log-").FullName;
        try
        {
            var e = Assert.ThrowsAny<IOException>(() => ServeHost.Create(TestServers.Spec(s => s.With(ServeSettings.IterationLog, dir)), TestServers.CalibrationRoot));
            Assert.Equal($"--iteration-log: {dir} is a folder; give the name of a file to write. Nothing was written.", e.Message);
            Assert.Empty(Directory.EnumerateFileSystemEntries(dir));
            var file = Path.Combine(dir, "log.parquet");
            File.WriteAllText(file, "");
            e = Assert.ThrowsAny<IOException>(() => ServeHost.Create(TestServers.Spec(s => s.With(ServeSettings.IterationLog, Path.Combine(file, "x.parquet"))), TestServers.CalibrationRoot));
            Assert.Contains($"{file} is a file, not a folder", e.Message);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public async Task TheIterationLogsMissingFoldersAreCreatedAsForEveryOutput()
    {
        var dir = Directory.CreateTempSubdirectory("joules-serve-log-").FullName;
        try
        {
            var log = Path.Combine(dir, "a", "b", "iterations.parquet");
            var (host, client) = await TestServers.InMemory(s => s.With(ServeSettings.IterationLog, log));
            await using (host)
            {
                await client.PostAsync("/v1/completions", Json("""{"prompt":[1,2,3],"max_tokens":3}"""));
                await host.StopAsync();
            }
            Assert.True(File.Exists(log));
            Assert.Equal([log], Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public async Task APortInUseIsAnErrorNamingTheAddressAndLeavesNoLog()
    {
        var taken = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var dir = Directory.CreateTempSubdirectory("joules-serve-log-").FullName;
        try
        {
            var port = ((IPEndPoint)taken.LocalEndpoint).Port;
            var host = ServeHost.Create(TestServers.Spec(s => s.With(ServeSettings.Port, port).With(ServeSettings.IterationLog, Path.Combine(dir, "log.parquet"))),
                TestServers.CalibrationRoot);
            await using (host)
            {
                var e = await Assert.ThrowsAsync<IOException>(() => host.StartAsync());
                Assert.Equal($"cannot listen on http://127.0.0.1:{port}: the address is already in use (another server listens there; choose another --port)", e.Message);
            }
            Assert.Empty(Directory.EnumerateFileSystemEntries(dir));
        }
        finally
        {
            taken.Stop();
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public async Task OverARealLoopbackPortConcurrentStreamsAllComplete()
    {
        var (host, url) = await TestServers.Loopback();
        await using var _ = host;
        using var http = new HttpClient { BaseAddress = url };
        var tasks = Enumerable.Range(0, 12).Select(i => http.PostAsync("v1/completions",
            Json($$"""{"prompt":[{{string.Join(',', Enumerable.Range(10, 20 + i * 5))}}],"max_tokens":{{3 + i}},"stream":true}"""))).ToArray();
        var answers = await Task.WhenAll(tasks);
        for (var i = 0; i < answers.Length; i++)
        {
            var text = await answers[i].Content.ReadAsStringAsync();
            var chunks = text.Split('\n').Count(l => l.StartsWith("data: {", StringComparison.Ordinal));
            Assert.Equal(3 + i, chunks);
            Assert.EndsWith("data: [DONE]\n\n", text);
        }
        Assert.Equal(12, host.Loop.Snapshot.RequestsFinished);
    }
}

/// <summary>The kernels a GPU server names in joules:engine_config_info, which `joules validate` compares with the profile's.</summary>
public class ServeKernelLabelTests
{
    [Fact]
    public void EveryEngineEntryOfAProfileBecomesOneLabelThatMapsBack()
    {
        var kernels = new Joules.Calibration.Engine.EngineOptions().Provenance();
        var info = new Joules.Serving.Http.ServeInfo("m", "llama-3.1-8b", "gpu", "h200", "NVIDIA H200", "GPU-x",
            new Joules.Scheduling.SchedulerConfig(), 10, null, kernels);
        var labels = info.KernelLabels().ToArray();
        Assert.Equal(kernels.Count, labels.Length);
        foreach (var (key, value) in labels)
        {
            // A Prometheus label name: letters, digits and underscores only.
            Assert.Matches("^[a-z_][a-z0-9_]*$", key);
            Assert.StartsWith(Joules.Serving.Http.ServeInfo.KernelLabelPrefix, key);
            Assert.Equal(value, kernels["engine." + key[Joules.Serving.Http.ServeInfo.KernelLabelPrefix.Length..]]);
        }
        Assert.Contains(labels, l => l.Key == "kernel_decode_attention" && l.Value.Contains("tensor cores"));
        Assert.Empty(new Joules.Serving.Http.ServeInfo("m", "llama-3.1-8b", "sim", "h200", "simulated h200", "", new Joules.Scheduling.SchedulerConfig(), 10, null).KernelLabels());
    }
}
