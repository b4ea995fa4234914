using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Joules.Planning;

/// <summary>Everything a plan's evaluations share besides the work items: where the trace comes from, the goal, the instance search and the settings.</summary>
public sealed record PlanHeader
{
    public string ToolVersion { get; init; } = "";
    /// <summary>The command line that made the plan.</summary>
    public string Command { get; init; } = "";
    /// <summary>The trace replayed (or, with <see cref="DurationSeconds"/>, the trace a synthetic one is fitted to).</summary>
    public required string Trace { get; init; }
    public required string TraceSha256 { get; init; }
    /// <summary>When set, each evaluation replays a synthetic trace of this length fitted to <see cref="Trace"/> (`--like`).</summary>
    public double? DurationSeconds { get; init; }
    public int Seed { get; init; } = 42;
    public double Attainment { get; init; } = 0.99;
    public string Objective { get; init; } = "energy";
    public double GpuHourPrice { get; init; }
    public int MinInstances { get; init; } = 1;
    public int MaxInstances { get; init; } = 16;
    public int[] ExplicitInstances { get; init; } = [];
    /// <summary>Settings every configuration shares, by YAML key.</summary>
    public Dictionary<string, string> Base { get; init; } = [];
    /// <summary>The varied dimensions, in order, with their values.</summary>
    public Dictionary<string, string[]> Dimensions { get; init; } = [];
    /// <summary>Dimension keys in the order they were given (JSON objects keep no order a reader must rely on).</summary>
    public string[] DimensionOrder { get; init; } = [];

    public PlanGoal Goal => new(Attainment, PlanGoal.ParseObjective(Objective), GpuHourPrice);
    public InstanceSearch Instances => new(MinInstances, MaxInstances, ExplicitInstances.Length > 0 ? ExplicitInstances : null);

    public PlanSpace Space() => new(Base, DimensionOrder.Select(k => PlanSpace.DimensionFor(k, Dimensions[k])).ToArray(), Instances);

    public string ToJson() => JsonSerializer.Serialize(this, s_json);
    public static PlanHeader FromJson(string json, string where) =>
        JsonSerializer.Deserialize<PlanHeader>(json, s_json) ?? throw new InvalidDataException($"{where}: empty plan header");

    private static readonly JsonSerializerOptions s_json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };
}

/// <summary>
/// A plan's work list: the header and one item per setting of the search space. `joules plan` writes it
/// (worklist.parquet: one row per item, one string column per dimension, the header as JSON in the footer) and every
/// shard evaluates its slice of the same file, so a plan runs across machines.
/// </summary>
public sealed class WorkList
{
    public const string HeaderKey = "joules.plan.header";
    public const string PlanIdKey = "joules.plan.id";
    public const string ItemColumn = "item";

    public WorkList(PlanHeader header, IReadOnlyList<PlanWorkItem> items)
    {
        Header = header;
        Items = items;
        PlanId = ComputeId(header, items);
    }

    public PlanHeader Header { get; }
    public IReadOnlyList<PlanWorkItem> Items { get; }
    /// <summary>Hash of the header and items: results carry it, and merge refuses results of another plan.</summary>
    public string PlanId { get; }

    public static WorkList Create(PlanHeader header) => new(header, header.Space().Expand());

    private static string ComputeId(PlanHeader header, IReadOnlyList<PlanWorkItem> items)
    {
        var sb = new StringBuilder(header.ToJson());
        foreach (var i in items) sb.Append('\n').Append(i.Id).Append(' ').Append(i.Describe());
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(sb.ToString())))[..16];
    }

    /// <summary>
    /// The items of shard <paramref name="shard"/>: the clock groups (<see cref="PlanGroups"/>) whose number modulo the shard
    /// count is the shard's index, so neighbouring groups, which cost alike, spread over shards and a group is never split.
    /// </summary>
    public IReadOnlyList<PlanWorkItem> Slice(ShardSpec shard) =>
        PlanGroups.Of(Items).Where((_, g) => g % shard.Count == shard.Index).SelectMany(g => g).OrderBy(i => i.Id).ToArray();

    public void Write(string path, CancellationToken cancel = default)
    {
        var t = new PlanTable();
        t.Metadata[HeaderKey] = Header.ToJson();
        t.Metadata[PlanIdKey] = PlanId;
        var ids = t.Column<int>(ItemColumn);
        foreach (var k in Header.DimensionOrder) t.Column<string>(k);
        foreach (var i in Items)
        {
            ids.Add(i.Id);
            foreach (var (k, v) in i.Values) t.Column<string>(k).Add(v);
        }
        t.Write(path, cancel);
    }

    public static WorkList Read(string path)
    {
        var t = PlanTable.Read(path);
        if (!t.Metadata.TryGetValue(HeaderKey, out var json)) throw new InvalidDataException($"{path} is not a plan work list (no {HeaderKey} in its metadata)");
        var header = PlanHeader.FromJson(json, path);
        var list = Create(header);
        // The rows must be the header's expansion: a hand-edited or truncated file is refused rather than half-run.
        if (!t.Has(ItemColumn) || t.Rows != list.Items.Count)
            throw new InvalidDataException($"{path}: {t.Rows} rows, but its header describes {list.Items.Count} settings");
        var ids = t.Column<int>(ItemColumn);
        for (var r = 0; r < t.Rows; r++)
        {
            var item = list.Items[r];
            if (ids[r] != item.Id) throw new InvalidDataException($"{path}, row {r + 1}, column {ItemColumn}: {ids[r]}, expected {item.Id}");
            foreach (var (k, v) in item.Values)
                if (!t.Has(k) || t.Column<string>(k)[r] != v)
                    throw new InvalidDataException($"{path}, row {r + 1}, column {k}: '{(t.Has(k) ? t.Column<string>(k)[r] : "")}', expected '{v}' as the header describes");
        }
        if (t.Metadata.TryGetValue(PlanIdKey, out var id) && id != list.PlanId)
            throw new InvalidDataException($"{path}: plan id {id} does not match its contents ({list.PlanId})");
        return list;
    }
}

/// <summary>Shard i of N: which slice of a work list one machine evaluates (0-based, as Kubernetes' JOB_COMPLETION_INDEX and Slurm's SLURM_ARRAY_TASK_ID are).</summary>
public readonly record struct ShardSpec(int Index, int Count)
{
    public static ShardSpec All => new(0, 1);

    public static ShardSpec Parse(string text)
    {
        if (text.Split('/') is [var a, var b] && int.TryParse(a, out var i) && int.TryParse(b, out var n) && n >= 1 && i >= 0 && i < n)
            return new ShardSpec(i, n);
        throw new ArgumentException($"--shard: '{text}' is not I/N with 0 <= I < N (e.g. 0/8, the first of 8 shards)");
    }

    public override string ToString() => $"{Index}/{Count}";
}
