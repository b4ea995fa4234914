using System.Buffers;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Joules.Replay;

/// <summary>What a replay measured for one request, in seconds on the replay's clock (0 = its start).</summary>
/// <param name="RequestId">The trace's id.</param>
/// <param name="ScheduledS">When it was due to be sent.</param>
/// <param name="SentS">When it was sent (the lag is SentS - ScheduledS).</param>
/// <param name="FirstTokenS">First streamed token (NaN if none came).</param>
/// <param name="DoneS">End of the response.</param>
/// <param name="InputTokens">Prompt tokens sent.</param>
/// <param name="OutputTokensAsked">max_tokens sent.</param>
/// <param name="OutputTokens">Tokens generated (usage.completion_tokens when given, else streamed chunks).</param>
/// <param name="TokenTimes">Arrival time of every streamed token chunk.</param>
/// <param name="Error">The endpoint's error message or the transport failure, null when it succeeded.</param>
/// <param name="Status">HTTP status, 0 when no response came.</param>
/// <param name="QueueOrder">Place in the endpoint's scheduler queue, where it says (joules serve's x-joules-queue-order header), else null.</param>
public sealed record MeasuredRequest(long RequestId, double ScheduledS, double SentS, double FirstTokenS, double DoneS, int InputTokens,
    int OutputTokensAsked, int OutputTokens, double[] TokenTimes, string? Error, int Status, long? QueueOrder = null)
{
    public bool Failed => Error is not null;
    public double LagS => SentS - ScheduledS;
}

/// <summary>Sends one streaming completion to an OpenAI-compatible endpoint and times every chunk of the answer.</summary>
public sealed class OpenAiStreamClient(HttpClient http, Uri baseUri, string model, bool ignoreEos)
{
    private readonly Uri _completions = new(baseUri, "v1/completions");

    /// <summary>The body sent for a request: token-id prompt, max_tokens = the trace's output, EOS ignored (vLLM's ignore_eos and min_tokens) unless told not to.</summary>
    public byte[] Body(int[] prompt, int maxTokens)
    {
        var buffer = new ArrayBufferWriter<byte>(prompt.Length * 6 + 256);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("model", model);
            w.WriteStartArray("prompt");
            foreach (var t in prompt) w.WriteNumberValue(t);
            w.WriteEndArray();
            w.WriteNumber("max_tokens", maxTokens);
            if (ignoreEos)
            {
                w.WriteBoolean("ignore_eos", true);
                w.WriteNumber("min_tokens", maxTokens);
            }
            w.WriteNumber("temperature", 0);
            w.WriteBoolean("stream", true);
            w.WriteStartObject("stream_options");
            w.WriteBoolean("include_usage", true);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    public async Task<MeasuredRequest> SendAsync(PlannedRequest p, int[] prompt, Func<double> clock, CancellationToken cancel)
    {
        var times = new List<double>(p.OutputTokens);
        var sent = clock();
        int? usage = null;
        long? queueOrder = null;
        try
        {
            using var msg = new HttpRequestMessage(HttpMethod.Post, _completions) { Content = new ByteArrayContent(Body(prompt, p.OutputTokens)) };
            msg.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            sent = clock();
            using var resp = await http.SendAsync(msg, HttpCompletionOption.ResponseHeadersRead, cancel);
            var status = (int)resp.StatusCode;
            if (resp.Headers.TryGetValues(QueueOrderHeader, out var orders) && long.TryParse(orders.FirstOrDefault(), System.Globalization.NumberStyles.None,
                    System.Globalization.CultureInfo.InvariantCulture, out var order))
                queueOrder = order;
            if (!resp.IsSuccessStatusCode)
            {
                var text = await resp.Content.ReadAsStringAsync(cancel);
                return Done(p, sent, times, usage, clock(), ErrorMessage(text, status), status, queueOrder);
            }
            await using var stream = await resp.Content.ReadAsStreamAsync(cancel);
            using var reader = new StreamReader(stream, Encoding.UTF8);
            while (await reader.ReadLineAsync(cancel) is { } line)
            {
                if (!line.StartsWith("data:", StringComparison.Ordinal)) continue;
                var now = clock();
                var data = line.AsSpan(5).Trim();
                if (data.SequenceEqual("[DONE]")) break;
                using var doc = JsonDocument.Parse(data.ToString());
                var root = doc.RootElement;
                if (root.TryGetProperty("error", out var err))
                    return Done(p, sent, times, usage, now, err.TryGetProperty("message", out var m) ? m.GetString() ?? "error" : err.ToString(), status, queueOrder);
                if (root.TryGetProperty("choices", out var ch) && ch.ValueKind == JsonValueKind.Array && ch.GetArrayLength() > 0) times.Add(now);
                if (root.TryGetProperty("usage", out var u) && u.ValueKind == JsonValueKind.Object && u.TryGetProperty("completion_tokens", out var ct))
                    usage = ct.GetInt32();
            }
            return Done(p, sent, times, usage, clock(), times.Count == 0 ? "the stream ended without a token" : null, status, queueOrder);
        }
        catch (Exception e) when (e is HttpRequestException or IOException or JsonException || e is OperationCanceledException && !cancel.IsCancellationRequested)
        {
            return Done(p, sent, times, usage, clock(), e is OperationCanceledException ? "timed out" : e.Message, 0, queueOrder);
        }
    }

    private static MeasuredRequest Done(PlannedRequest p, double sent, List<double> times, int? usage, double end, string? error, int status, long? queueOrder) =>
        new(p.RequestId, p.SendS, sent, times.Count > 0 ? times[0] : double.NaN, end, p.InputTokens, p.OutputTokens,
            usage ?? times.Count, times.ToArray(), error, status, queueOrder);

    /// <summary>The header a joules server numbers its queue with (Joules.Serving's ServingLoop.QueueOrderHeader; replay does not depend on the server).</summary>
    public const string QueueOrderHeader = "x-joules-queue-order";

    private static string ErrorMessage(string body, int status)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            var root = doc.RootElement;
            if (root.TryGetProperty("error", out var e) && e.ValueKind == JsonValueKind.Object && e.TryGetProperty("message", out var m)) return $"HTTP {status}: {m.GetString()}";
            if (root.TryGetProperty("message", out var m2)) return $"HTTP {status}: {m2.GetString()}";
        }
        catch (JsonException) { }
        return $"HTTP {status}: {(body.Length > 200 ? body[..200] : body)}";
    }
}

/// <summary>Prompt token ids for a replayed request: deterministic per request and seed, drawn from ids every common vocabulary has (100 to 29,999).</summary>
public static class PromptTokens
{
    public const int Low = 100, High = 30000;

    public static int[] For(long requestId, int count, int seed)
    {
        var ids = new int[count];
        var state = unchecked((ulong)requestId * 0x9E3779B97F4A7C15UL ^ (ulong)seed * 0xD1B54A32D192ED03UL);
        for (var i = 0; i < count; i++)
        {
            state += 0x9E3779B97F4A7C15UL;
            var z = state;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            z ^= z >> 31;
            ids[i] = Low + (int)(z % (ulong)(High - Low));
        }
        return ids;
    }
}
