using System.Text.Json;

namespace Joules.Replay;

/// <summary>What a replay asks an endpoint about itself: its model (/v1/models) and its metrics (/metrics, where it has them).</summary>
public static class EndpointProbe
{
    public static async Task<string> FirstModelAsync(HttpClient http, Uri baseUri, CancellationToken cancel)
    {
        var uri = new Uri(baseUri, "v1/models");
        string text;
        try { text = await http.GetStringAsync(uri, cancel); }
        catch (HttpRequestException e) { throw new IOException($"{uri}: {e.Message}; is the server running? (pass --model to skip this check)", e); }
        try
        {
            using var doc = JsonDocument.Parse(text);
            if (doc.RootElement.TryGetProperty("data", out var data) && data.ValueKind == JsonValueKind.Array && data.GetArrayLength() > 0
                && data[0].TryGetProperty("id", out var id) && id.GetString() is { Length: > 0 } name)
                return name;
        }
        catch (JsonException) { }
        throw new InvalidDataException($"{uri}: the answer lists no model; pass --model NAME");
    }

    /// <summary>The endpoint's /metrics samples, or null when it has none.</summary>
    public static async Task<IReadOnlyList<PrometheusSample>?> MetricsAsync(HttpClient http, Uri baseUri, CancellationToken cancel)
    {
        try
        {
            using var resp = await http.GetAsync(new Uri(baseUri, "metrics"), cancel);
            if (!resp.IsSuccessStatusCode) return null;
            return PrometheusText.Parse(await resp.Content.ReadAsStringAsync(cancel));
        }
        catch (HttpRequestException) { return null; }
    }

    /// <summary>The server part of the run metadata: its info metrics and how its counters changed over the run.</summary>
    public static RunServer? Server(IReadOnlyList<PrometheusSample>? before, IReadOnlyList<PrometheusSample>? after)
    {
        if (after is null) return null;
        var counters = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var name in after.Select(s => s.Name).Where(n => n.EndsWith("_total", StringComparison.Ordinal)).Distinct())
        {
            var a = PrometheusText.Sum(after, name) ?? 0;
            var b = before is null ? 0 : PrometheusText.Sum(before, name) ?? 0;
            counters[name] = a - b;
        }
        return new RunServer
        {
            EngineConfig = PrometheusText.Labels(after, "joules:engine_config_info")?.ToDictionary(),
            CacheConfig = PrometheusText.Labels(after, "vllm:cache_config_info")?.ToDictionary(),
            Counters = counters,
            IterationsAtStart = before is not null && PrometheusText.Sum(before, "joules:iterations_total") is { } n ? (long)Math.Round(n) : null,
        };
    }
}
