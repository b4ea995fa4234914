using System.Text.Json;

namespace Joules.Profiles.Derived;

/// <summary>What one GPU measurably sustains: a large bf16 GEMM's FLOP rate and a device copy's bandwidth (read + write), and the file (and its SHA-256) the figures come from.</summary>
public sealed record MeasuredRates(double GemmFlopsPerSecond, double CopyBytesPerSecond, string Source, string SourceSha256 = "")
{
    /// <summary>The source file with its hash, for provenance lines.</summary>
    public string Describe() => SourceSha256.Length > 0 ? $"{Source} (sha256 {SourceSha256})" : Source;

    /// <summary>Checks that both rates are positive and finite; <paramref name="where"/> names the file in the error.</summary>
    public void Validate(string where)
    {
        if (!(GemmFlopsPerSecond > 0) || !double.IsFinite(GemmFlopsPerSecond))
            throw new InvalidDataException($"{where}: gemm_flops_per_s must be a positive number, got {GemmFlopsPerSecond}");
        if (!(CopyBytesPerSecond > 0) || !double.IsFinite(CopyBytesPerSecond))
            throw new InvalidDataException($"{where}: copy_bytes_per_s must be a positive number, got {CopyBytesPerSecond}");
    }
}

/// <summary>One timed shape of an engine benchmark: its label, iteration shape and median seconds per iteration.</summary>
public sealed record EngineBenchResult(string Label, IterationShape Shape, double MedianSeconds);

/// <summary>
/// A file written by <c>joules engine bench --json</c> (e.g. <c>calibration/engine/h200-engine.json</c>): the GPU,
/// model and tp it ran, the measured roofline rates when <c>--roofline</c> or a suite was run, and the timed shapes.
/// </summary>
public sealed record EngineBenchFile(string Path, string GpuName, string ModelName, int TensorParallel, MeasuredRates? Rates, IReadOnlyList<EngineBenchResult> Results)
{
    /// <summary>Reads a bench file; errors name the file, the result index and the field.</summary>
    /// <remarks>Prefill and decode results are kept; mixed ones are skipped (the file does not record their riding decodes).</remarks>
    public static EngineBenchFile Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"engine bench file not found: {path}", path);
        JsonDocument doc;
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
            doc = JsonDocument.Parse(bytes);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not valid JSON ({e.Message})", e);
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{path}: expected a JSON object written by `joules engine bench --json`");
            string Str(JsonElement o, string key, string where) =>
                o.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : throw new InvalidDataException($"{where}: field '{key}' is missing or not a string");
            double Num(JsonElement o, string key, string where) =>
                o.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : throw new InvalidDataException($"{where}: field '{key}' is missing or not a number");
            int Int(JsonElement o, string key, string where) =>
                o.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i) ? i : throw new InvalidDataException($"{where}: field '{key}' is missing or not an integer");

            var gpu = Str(root, "gpu", path);
            var model = Str(root, "model", path);
            var tp = root.TryGetProperty("tp", out _) ? Int(root, "tp", path) : 1;
            MeasuredRates? rates = null;
            if (root.TryGetProperty("gemm_flops_per_s", out _) || root.TryGetProperty("copy_bytes_per_s", out _))
            {
                rates = new MeasuredRates(Num(root, "gemm_flops_per_s", path), Num(root, "copy_bytes_per_s", path), path,
                    Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes)));
                rates.Validate(path);
            }
            var results = new List<EngineBenchResult>();
            if (root.TryGetProperty("results", out var arr) && arr.ValueKind == JsonValueKind.Array)
            {
                var i = 0;
                foreach (var r in arr.EnumerateArray())
                {
                    var where = $"{path}: results[{i++}]";
                    var label = Str(r, "label", where);
                    if (label.StartsWith("mixed", StringComparison.Ordinal)) continue;
                    int sequences = Int(r, "sequences", where), newTokens = Int(r, "new_tokens", where), context = Int(r, "context", where);
                    var seconds = Num(r, "median_s", where);
                    if (sequences <= 0 || newTokens < sequences || context < 0 || !(seconds > 0))
                        throw new InvalidDataException($"{where}: expected sequences > 0, new_tokens >= sequences, context >= 0 and median_s > 0");
                    // A decode step is one new token over a non-empty cache; everything else is a prefill of equal chunks.
                    var shape = newTokens == sequences && context > 0
                        ? IterationShape.Decode(sequences, context + 1L)
                        : newTokens % sequences == 0 ? IterationShape.Prefill(sequences, newTokens / sequences, context)
                        : throw new InvalidDataException($"{where}: {newTokens} new tokens do not split evenly over {sequences} sequences");
                    results.Add(new EngineBenchResult(label, shape, seconds));
                }
            }
            return new EngineBenchFile(path, gpu, model, tp, rates, results);
        }
    }
}
