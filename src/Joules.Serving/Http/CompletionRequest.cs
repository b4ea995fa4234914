using System.Text.Json;
using Joules.Serving.Loop;

namespace Joules.Serving.Http;

/// <summary>A parsed and checked body of POST /v1/completions (the fields Joules honours; sampling knobs are accepted and ignored: sampling is greedy).</summary>
public sealed record CompletionRequest
{
    public string? Model { get; init; }
    /// <summary>Prompt token ids (a text prompt already tokenized).</summary>
    public required IReadOnlyList<int> Prompt { get; init; }
    public int MaxTokens { get; init; } = DefaultMaxTokens;
    public int MinTokens { get; init; }
    public bool IgnoreEos { get; init; }
    public bool Stream { get; init; }
    /// <summary>stream_options.include_usage: a last chunk with the token counts.</summary>
    public bool IncludeUsage { get; init; }

    /// <summary>OpenAI's default for the completions API.</summary>
    public const int DefaultMaxTokens = 16;

    /// <summary>Parses a request body; every problem is a <see cref="RequestRejectedException"/> naming the field, as OpenAI's 400 errors do.</summary>
    public static CompletionRequest Parse(ReadOnlySpan<byte> body, PromptText text)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(body.ToArray()); }
        catch (JsonException e) { throw new RequestRejectedException(NotJson(body, e), null); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new RequestRejectedException("the request body must be a JSON object", null);
            if (!root.TryGetProperty("prompt", out var p) || p.ValueKind == JsonValueKind.Null)
                throw new RequestRejectedException("'prompt' is required: a string or an array of token ids", "prompt");
            var prompt = PromptOf(p, text);
            if (prompt.Count == 0) throw new RequestRejectedException("the prompt is empty: it needs at least one token", "prompt");
            var max = Int(root, "max_tokens", DefaultMaxTokens, min: 1);
            var min = Int(root, "min_tokens", 0, min: 0);
            if (min > max) throw new RequestRejectedException($"min_tokens ({min}) must not exceed max_tokens ({max})", "min_tokens");
            var n = Int(root, "n", 1, min: 1);
            if (n != 1) throw new RequestRejectedException($"n = {n} is not supported: one completion per request", "n");
            if (Bool(root, "echo", false)) throw new RequestRejectedException("echo is not supported", "echo");
            if (root.TryGetProperty("logprobs", out var lp) && lp.ValueKind is not (JsonValueKind.Null or JsonValueKind.False))
                throw new RequestRejectedException("logprobs are not supported", "logprobs");
            var includeUsage = false;
            if (root.TryGetProperty("stream_options", out var so) && so.ValueKind == JsonValueKind.Object)
                includeUsage = Bool(so, "include_usage", false, "stream_options.include_usage");
            string? model = null;
            if (root.TryGetProperty("model", out var m) && m.ValueKind != JsonValueKind.Null)
            {
                if (m.ValueKind != JsonValueKind.String) throw new RequestRejectedException("'model' must be a string", "model");
                model = m.GetString();
            }
            return new CompletionRequest
            {
                Model = model,
                Prompt = prompt,
                MaxTokens = max,
                MinTokens = min,
                IgnoreEos = Bool(root, "ignore_eos", false),
                Stream = Bool(root, "stream", false),
                IncludeUsage = includeUsage,
            };
        }
    }

    // System.Text.Json's own message names its internals (depth, LineNumber, BytePositionInLine); a client needs where the body broke.
    private static string NotJson(ReadOnlySpan<byte> body, JsonException e)
    {
        if (body.Trim(" \t\r\n"u8).IsEmpty) return "the request body is empty; expected a JSON object";
        // The reader counts lines at each LF and bytes from the line's start: turn that into an offset in the body.
        long lineStart = 0;
        var lines = e.LineNumber ?? 0;
        for (var i = 0; lines > 0 && i < body.Length; i++)
            if (body[i] == (byte)'\n' && --lines == 0) lineStart = i + 1;
        var offset = lineStart + (e.BytePositionInLine ?? 0);
        return $"the request body is not valid JSON (at byte {offset})";
    }

    private static IReadOnlyList<int> PromptOf(JsonElement p, PromptText text)
    {
        switch (p.ValueKind)
        {
            case JsonValueKind.String:
                return text.Encode(p.GetString()!);
            case JsonValueKind.Array:
                var len = p.GetArrayLength();
                if (len == 0) return [];
                var first = p[0];
                if (first.ValueKind is JsonValueKind.String or JsonValueKind.Array)
                {
                    if (len > 1) throw new RequestRejectedException($"only one prompt per request is supported, got {len}", "prompt");
                    return PromptOf(first, text);
                }
                var ids = new int[len];
                var i = 0;
                foreach (var e in p.EnumerateArray())
                {
                    if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt32(out var id) || id < 0)
                        throw new RequestRejectedException($"prompt[{i}] is not a token id (a whole number of at least 0)", "prompt");
                    ids[i++] = id;
                }
                return ids;
            default:
                throw new RequestRejectedException("'prompt' must be a string or an array of token ids", "prompt");
        }
    }

    private static int Int(JsonElement o, string name, int fallback, int min)
    {
        if (!o.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return fallback;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out var x))
            throw new RequestRejectedException($"'{name}' must be a whole number", name);
        if (x < min) throw new RequestRejectedException($"'{name}' must be at least {min}, got {x}", name);
        return x;
    }

    private static bool Bool(JsonElement o, string name, bool fallback, string? param = null)
    {
        if (!o.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return fallback;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new RequestRejectedException($"'{param ?? name}' must be true or false", param ?? name),
        };
    }
}
