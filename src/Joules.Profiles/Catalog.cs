using System.Reflection;
using System.Text.Json;

namespace Joules.Profiles;

/// <summary>The model cards and GPU datasheets shipped with Joules (embedded JSON), plus any the user points at by file path.</summary>
public static class Catalog
{
    private static readonly Lazy<IReadOnlyDictionary<string, ModelCard>> s_models = new(() => LoadEmbedded<ModelCard>("models", m => m.Name));
    private static readonly Lazy<IReadOnlyDictionary<string, GpuSpec>> s_gpus = new(() => LoadEmbedded<GpuSpec>("gpus", g => g.Name));

    public static IReadOnlyDictionary<string, ModelCard> Models => s_models.Value;
    public static IReadOnlyDictionary<string, GpuSpec> Gpus => s_gpus.Value;

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

    private static T ReadJson<T>(string path)
    {
        try
        {
            return JsonSerializer.Deserialize<T>(File.ReadAllText(path)) ?? throw new InvalidDataException($"{path}: empty JSON");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not a valid {typeof(T).Name} ({e.Message})", e);
        }
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
