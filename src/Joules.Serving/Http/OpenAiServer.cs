using System.Buffers;
using System.Text.Json;
using Joules.Serving.Loop;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Joules.Serving.Http;

/// <summary>
/// The OpenAI-compatible HTTP front of `joules serve` (ASP.NET Core minimal APIs on Kestrel): POST /v1/completions
/// (token-id or text prompt; max_tokens, min_tokens, ignore_eos; streaming as server-sent events, one per token; usage),
/// GET /v1/models, GET /health and GET /metrics. Errors are OpenAI's JSON error objects; a client that goes away frees
/// its request's KV blocks; while draining, new requests get 503.
/// </summary>
public static class OpenAiServer
{
    private static long s_nextId;

    /// <summary>Builds (does not start) the web application over <paramref name="loop"/>.</summary>
    /// <param name="loop">The serving loop requests go to.</param>
    /// <param name="info">What the server says about itself.</param>
    /// <param name="urls">Where Kestrel listens (e.g. http://127.0.0.1:8000); ignored when <paramref name="configure"/> swaps the server (tests).</param>
    /// <param name="configure">Last changes to the builder (tests use it for the in-memory server).</param>
    public static WebApplication Build(ServingLoop loop, ServeInfo info, IEnumerable<string> urls, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        // The command line owns Ctrl-C and SIGTERM (it drains first); the host must not stop on its own.
        builder.Services.AddSingleton<IHostLifetime, CommandLineLifetime>();
        builder.WebHost.UseUrls([.. urls]);
        configure?.Invoke(builder);
        var app = builder.Build();
        var text = new PromptText(loop.Engine.Vocab);
        var metrics = new ServerMetrics(loop, info);
        var created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

        app.MapPost("/v1/completions", (HttpContext ctx) => Completions(ctx, loop, info, text));
        app.MapGet("/v1/models", (HttpContext ctx) => WriteJson(ctx, 200, w =>
        {
            w.WriteString("object", "list");
            w.WriteStartArray("data");
            w.WriteStartObject();
            w.WriteString("id", info.ModelName);
            w.WriteString("object", "model");
            w.WriteNumber("created", created);
            w.WriteString("owned_by", "joules");
            w.WriteString("root", info.Model);
            w.WriteNumber("max_model_len", info.Scheduler.MaxModelLen);
            w.WriteEndObject();
            w.WriteEndArray();
        }));
        app.MapGet("/health", (HttpContext ctx) =>
        {
            ctx.Response.StatusCode = loop.Snapshot.Failure is not null ? 500 : loop.Stopping ? 503 : 200;
            return Task.CompletedTask;
        });
        app.MapGet("/metrics", async (HttpContext ctx) =>
        {
            ctx.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
            await ctx.Response.WriteAsync(metrics.Render(), ctx.RequestAborted);
        });
        app.MapFallback((HttpContext ctx) => Error(ctx, 404, $"no such endpoint: {ctx.Request.Method} {ctx.Request.Path}", null, "not_found_error"));
        return app;
    }

    private static async Task Completions(HttpContext ctx, ServingLoop loop, ServeInfo info, PromptText text)
    {
        CompletionRequest req;
        ServingRequest r;
        try
        {
            var body = await ReadBody(ctx);
            req = CompletionRequest.Parse(body, text);
            if (req.Model is { } m && m != info.ModelName)
            {
                await Error(ctx, 404, $"The model `{m}` does not exist.", "model", "invalid_request_error", "model_not_found");
                return;
            }
            r = new ServingRequest(Interlocked.Increment(ref s_nextId), req.Prompt, req.MaxTokens, req.MinTokens, req.IgnoreEos);
            loop.Submit(r);
            ctx.Response.Headers[ServingLoop.QueueOrderHeader] = r.QueueOrder.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (RequestRejectedException e)
        {
            await Error(ctx, e.Status, e.Message, e.Param, e.Status >= 500 ? "server_error" : "invalid_request_error");
            return;
        }
        var id = $"cmpl-{r.Id}";
        var created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var cancel = ctx.RequestAborted;
        try
        {
            if (req.Stream) await Stream(ctx, r, req, info, text, id, created, cancel);
            else await Whole(ctx, r, req, info, text, id, created, cancel);
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            loop.Abort(r);
        }
        catch (IOException)
        {
            // The connection broke while writing: the client is gone.
            loop.Abort(r);
        }
    }

    private static async Task Stream(HttpContext ctx, ServingRequest r, CompletionRequest req, ServeInfo info, PromptText text, string id, long created,
        CancellationToken cancel)
    {
        ctx.Response.StatusCode = 200;
        ctx.Response.ContentType = "text/event-stream";
        ctx.Response.Headers.CacheControl = "no-cache";
        var buffer = new ArrayBufferWriter<byte>(512);
        await ctx.Response.StartAsync(cancel);
        var generated = 0;
        await foreach (var ev in r.Events.ReadAllAsync(cancel))
        {
            if (ev.Token < 0 && ev.Finish is FinishReason.Abort or FinishReason.Error)
            {
                // The server stopped it: say so in the stream, as OpenAI streams report errors.
                buffer.Clear();
                Sse(buffer, w => ErrorBody(w, r.Error ?? "the request was aborted by the server", null, "server_error"));
                await ctx.Response.Body.WriteAsync(buffer.WrittenMemory, cancel);
                break;
            }
            if (ev.Token >= 0) generated++;
            buffer.Clear();
            Sse(buffer, w => Chunk(w, id, created, info.ModelName, ev.Token >= 0 ? text.Piece(ev.Token) : "", FinishName(ev.Finish)));
            await ctx.Response.Body.WriteAsync(buffer.WrittenMemory, cancel);
            await ctx.Response.Body.FlushAsync(cancel);
        }
        buffer.Clear();
        if (req.IncludeUsage)
            Sse(buffer, w =>
            {
                w.WriteString("id", id);
                w.WriteString("object", "text_completion");
                w.WriteNumber("created", created);
                w.WriteString("model", info.ModelName);
                w.WriteStartArray("choices");
                w.WriteEndArray();
                Usage(w, r.PromptTokens, generated);
            });
        buffer.Write("data: [DONE]\n\n"u8);
        await ctx.Response.Body.WriteAsync(buffer.WrittenMemory, cancel);
        await ctx.Response.Body.FlushAsync(cancel);
    }

    private static async Task Whole(HttpContext ctx, ServingRequest r, CompletionRequest req, ServeInfo info, PromptText text, string id, long created,
        CancellationToken cancel)
    {
        var sb = new System.Text.StringBuilder();
        var generated = 0;
        var finish = FinishReason.None;
        await foreach (var ev in r.Events.ReadAllAsync(cancel))
        {
            if (ev.Token >= 0)
            {
                generated++;
                sb.Append(text.Piece(ev.Token));
            }
            if (ev.Finish != FinishReason.None) finish = ev.Finish;
        }
        if (finish is FinishReason.Abort or FinishReason.Error)
        {
            await Error(ctx, 500, r.Error ?? "the request was aborted by the server", null, "server_error");
            return;
        }
        await WriteJson(ctx, 200, w =>
        {
            w.WriteString("id", id);
            w.WriteString("object", "text_completion");
            w.WriteNumber("created", created);
            w.WriteString("model", info.ModelName);
            w.WriteStartArray("choices");
            w.WriteStartObject();
            w.WriteNumber("index", 0);
            w.WriteString("text", sb.ToString());
            w.WriteNull("logprobs");
            w.WriteString("finish_reason", FinishName(finish));
            w.WriteEndObject();
            w.WriteEndArray();
            Usage(w, r.PromptTokens, generated);
        }, cancel);
    }

    private static string? FinishName(FinishReason f) => f switch
    {
        FinishReason.Length => "length",
        FinishReason.Stop => "stop",
        FinishReason.Abort => "abort",
        FinishReason.Error => "error",
        _ => null,
    };

    private static void Chunk(Utf8JsonWriter w, string id, long created, string model, string piece, string? finish)
    {
        w.WriteString("id", id);
        w.WriteString("object", "text_completion");
        w.WriteNumber("created", created);
        w.WriteString("model", model);
        w.WriteStartArray("choices");
        w.WriteStartObject();
        w.WriteNumber("index", 0);
        w.WriteString("text", piece);
        w.WriteNull("logprobs");
        if (finish is null) w.WriteNull("finish_reason");
        else w.WriteString("finish_reason", finish);
        w.WriteEndObject();
        w.WriteEndArray();
    }

    private static void Usage(Utf8JsonWriter w, int prompt, int completion)
    {
        w.WriteStartObject("usage");
        w.WriteNumber("prompt_tokens", prompt);
        w.WriteNumber("completion_tokens", completion);
        w.WriteNumber("total_tokens", prompt + completion);
        w.WriteEndObject();
    }

    private static void Sse(ArrayBufferWriter<byte> buffer, Action<Utf8JsonWriter> body)
    {
        buffer.Write("data: "u8);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            body(w);
            w.WriteEndObject();
        }
        buffer.Write("\n\n"u8);
    }

    private static void ErrorBody(Utf8JsonWriter w, string message, string? param, string type, string? code = null)
    {
        w.WriteStartObject("error");
        w.WriteString("message", message);
        w.WriteString("type", type);
        if (param is null) w.WriteNull("param");
        else w.WriteString("param", param);
        if (code is null) w.WriteNull("code");
        else w.WriteString("code", code);
        w.WriteEndObject();
    }

    /// <summary>An OpenAI error object: {"error": {"message", "type", "param", "code"}} (OpenAI's "code" is a finer reason, e.g. model_not_found under invalid_request_error).</summary>
    private static Task Error(HttpContext ctx, int status, string message, string? param, string type, string? code = null) =>
        WriteJson(ctx, status, w => ErrorBody(w, message, param, type, code));

    private static async Task WriteJson(HttpContext ctx, int status, Action<Utf8JsonWriter> body, CancellationToken cancel = default)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            body(w);
            w.WriteEndObject();
        }
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json";
        await ctx.Response.Body.WriteAsync(buffer.WrittenMemory, cancel);
    }

    private static async Task<byte[]> ReadBody(HttpContext ctx)
    {
        using var ms = new MemoryStream();
        await ctx.Request.Body.CopyToAsync(ms, ctx.RequestAborted);
        return ms.ToArray();
    }

    /// <summary>A host lifetime that ignores signals: `joules serve` stops the host itself after draining.</summary>
    private sealed class CommandLineLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
