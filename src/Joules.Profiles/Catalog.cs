using System.Reflection;
using System.Text.Json;

namespace Joules.Profiles;

/// <summary>The model cards, GPU datasheets and server (node) cards shipped with Joules (embedded JSON), plus any the user points at by file path.</summary>
public static class Catalog
{
    private static readonly Lazy<IReadOnlyDictionary<string, ModelCard>> s_models = new(() => LoadEmbedded<ModelCard>("models", m => m.Name));
    private static readonly Lazy<IReadOnlyDictionary<string, GpuSpec>> s_gpus = new(() => LoadEmbedded<GpuSpec>("gpus", g => g.Name));
    private static readonly Lazy<IReadOnlyDictionary<string, NodeSpec>> s_nodes = new(() => LoadEmbedded<NodeSpec>("nodes", n => n.Name));

    public static IReadOnlyDictionary<string, ModelCard> Models => s_models.Value;
    public static IReadOnlyDictionary<string, GpuSpec> Gpus => s_gpus.Value;
    public static IReadOnlyDictionary<string, NodeSpec> Nodes => s_nodes.Value;

    /// <summary>A shipped model by name (case-insensitive), or a model card read from a JSON file path.</summary>
    public static ModelCard Model(string nameOrPath)
    {
        if (Models.TryGetValue(nameOrPath.ToLowerInvariant(), out var m)) return m;
        if (File.Exists(nameOrPath))
        {
            var card = ReadJson<ModelCard>(nameOrPath);
            card.Validate();
            return card;
        }
        throw new KeyNotFoundException($"unknown model '{nameOrPath}': expected one of {string.Join(", ", Models.Keys.Order())} or a path to a model-card JSON file");
    }

    /// <summary>A shipped GPU by name (case-insensitive) or NVML name, or a datasheet read from a JSON file path.</summary>
    public static GpuSpec Gpu(string nameOrPath)
    {
        if (Gpus.TryGetValue(nameOrPath.ToLowerInvariant(), out var g)) return g;
        foreach (var spec in Gpus.Values)
            if (spec.NvmlNames.Any(n => string.Equals(n, nameOrPath, StringComparison.OrdinalIgnoreCase))) return spec;
        if (File.Exists(nameOrPath)) return ReadJson<GpuSpec>(nameOrPath);
        throw new KeyNotFoundException($"unknown GPU '{nameOrPath}': expected one of {string.Join(", ", Gpus.Keys.Order())} or a path to a GPU JSON file");
    }

    /// <summary>A shipped GPU by catalog or NVML name, or null when the catalog does not know it.</summary>
    public static GpuSpec? TryGpu(string name)
    {
        if (Gpus.TryGetValue(name.ToLowerInvariant(), out var g)) return g;
        return Gpus.Values.FirstOrDefault(spec => spec.NvmlNames.Any(n => string.Equals(n, name, StringComparison.OrdinalIgnoreCase)));
    }

    /// <summary>A shipped server card by name (case-insensitive), or a node card read from a JSON file path.</summary>
    public static NodeSpec Node(string nameOrPath)
    {
        if (Nodes.TryGetValue(nameOrPath.ToLowerInvariant(), out var n)) return n;
        if (File.Exists(nameOrPath))
        {
            var card = ReadJson<NodeSpec>(nameOrPath);
            try
            {
                card.Validate();
            }
            catch (InvalidDataException e)
            {
                throw new InvalidDataException($"{nameOrPath}: {e.Message}", e);
            }
            return card;
        }
        throw new KeyNotFoundException($"unknown node '{nameOrPath}': expected one of {string.Join(", ", Nodes.Keys.Order())} or a path to a node-card JSON file");
    }

    /// <summary>A shipped server card by name, or null when the catalog does not know it.</summary>
    public static NodeSpec? TryNode(string name) => Nodes.TryGetValue(name.ToLowerInvariant(), out var n) ? n : null;

    /// <summary>The shipped server card that carries the GPU (catalog name), or null when none does: the default host for a deployment.</summary>
    public static NodeSpec? NodeFor(string gpuName) =>
        Nodes.Values.FirstOrDefault(n => string.Equals(n.Gpu, gpuName, StringComparison.OrdinalIgnoreCase));

    private static T ReadJson<T>(string path)
    {
        try
        {
            return JsonSerializer.Deserialize<T>(File.ReadAllText(path)) ?? throw new InvalidDataException($"{path}: empty JSON");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not a valid {CardKind<T>()}: {Describe(e)}", e);
        }
    }

    private static string CardKind<T>() =>
        typeof(T) == typeof(ModelCard) ? "model card" : typeof(T) == typeof(GpuSpec) ? "GPU card" : typeof(T) == typeof(NodeSpec) ? "node card" : "card";

    // System.Text.Json's messages name .NET types; say instead which field and what was expected.
    private static string Describe(JsonException e)
    {
        const string missing = "missing required properties including: ";
        var m = e.Message;
        var at = m.IndexOf(missing, StringComparison.Ordinal);
        if (at >= 0) return "missing required field(s) " + m[(at + missing.Length)..].TrimEnd('.');
        var field = e.Path is { Length: > 2 } p && p.StartsWith("$.", StringComparison.Ordinal) ? p[2..] : e.Path;
        var expected = m.Contains("System.Int32", StringComparison.Ordinal) || m.Contains("System.Int64", StringComparison.Ordinal) ? "an integer"
            : m.Contains("System.Double", StringComparison.Ordinal) ? "a number"
            : m.Contains("System.String", StringComparison.Ordinal) ? "a string"
            : m.Contains("System.Boolean", StringComparison.Ordinal) ? "true or false"
            : null;
        var line = e.LineNumber is { } l ? $" (line {l + 1})" : "";
        if (field is not null && expected is not null) return $"field '{field}'{line}: expected {expected}";
        if (field is not null) return $"bad value at '{field}'{line}";
        return $"malformed JSON{line}";
    }

    private static IReadOnlyDictionary<string, T> LoadEmbedded<T>(string folder, Func<T, string> key)
    {
        var asm = typeof(Catalog).Assembly;
        var prefix = $"Joules.Profiles.Data.{folder}";
        var result = new SortedDictionary<string, T>(StringComparer.OrdinalIgnoreCase);
        foreach (var res in asm.GetManifestResourceNames().Where(n => n.StartsWith(prefix, StringComparison.Ordinal)))
        {
            using var s = asm.GetManifestResourceStream(res)!;
            var item = JsonSerializer.Deserialize<T>(s) ?? throw new InvalidDataException($"embedded {res} is empty");
            result[key(item)] = item;
        }
        return result;
    }
}
