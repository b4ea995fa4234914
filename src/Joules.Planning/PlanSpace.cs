using Joules.Simulation;
using Joules.Simulation.Settings;
using S = Joules.Simulation.Settings.SimulateSettings;

namespace Joules.Planning;

/// <summary>
/// One axis of a plan's search space: a name (the work list's column), the values to try, and how a value changes a
/// scenario. Every simulate setting is one (<see cref="SettingDimension"/>), so settings added to
/// <see cref="SimulateSettings"/> later (autoscalers, say) can be searched without any change here.
/// </summary>
public interface IPlanDimension
{
    /// <summary>Column name in the work list and results (the setting's YAML key).</summary>
    string Key { get; }
    IReadOnlyList<string> Values { get; }
    /// <summary>The scenario with <paramref name="value"/> applied; <paramref name="where"/> prefixes errors.</summary>
    ScenarioSpec Apply(ScenarioSpec spec, string value, string where);
}

/// <summary>A simulate setting searched over a list of values (each checked by the setting, and names by the catalogue, when the plan is made).</summary>
public sealed class SettingDimension : IPlanDimension
{
    public SettingDimension(Setting setting, IReadOnlyList<string> values)
    {
        Setting = setting;
        if (values.Count == 0) throw new ArgumentException($"{setting.OptionName}: give at least one value");
        var seen = new Dictionary<object, string>();
        foreach (var v in values)
        {
            var value = setting.ParseValue(v, setting.OptionName);
            CheckName(setting, v);
            // The same value twice would evaluate the same configuration twice and list it twice on the frontier.
            var identity = Identity(setting, v, value);
            if (!seen.TryAdd(identity, v))
                throw new ArgumentException($"{setting.OptionName}: '{v}' is given twice{(seen[identity] == v ? "" : $" ('{seen[identity]}' is the same value)")}; give each value once");
        }
        Values = values;
    }

    /// <summary>
    /// Names a setting looks up (GPU, model, node card, cost model, profile file) are checked here, when the plan is made:
    /// otherwise an unknown name surfaces only as an error row of every configuration that uses it.
    /// </summary>
    private static void CheckName(Setting setting, string text)
    {
        var v = text.Trim();
        try
        {
            if (setting == S.Gpu) Joules.Profiles.Catalog.Gpu(v);
            else if (setting == S.Model) Joules.Profiles.Catalog.Model(v);
            else if (setting == S.Node && !string.Equals(v, "none", StringComparison.OrdinalIgnoreCase)) Joules.Profiles.Catalog.Node(v);
            else if (setting == S.CostModel && !CostModelFactory.Kinds.Contains(v, StringComparer.OrdinalIgnoreCase))
                throw new ArgumentException($"unknown cost model '{v}': expected one of {string.Join(", ", CostModelFactory.Kinds)}");
            else if (setting == S.Profile && !File.Exists(v))
                throw new ArgumentException($"'{v}' is not a profile file (profile.parquet from `joules calibrate`)");
        }
        catch (Exception e) when (e is KeyNotFoundException or InvalidDataException or ArgumentException)
        {
            throw new ArgumentException($"{setting.OptionName}: {e.Message}", e);
        }
    }

    /// <summary>What makes two values the same: the parsed value, and for catalogue names the entry they name (h200 and H200).</summary>
    private static object Identity(Setting setting, string text, object value)
    {
        var v = text.Trim();
        if (setting == S.Gpu && Joules.Profiles.Catalog.TryGpu(v) is { } gpu) return "gpu:" + gpu.Name;
        if ((setting == S.Model || setting == S.Node) && !File.Exists(v)) return v.ToLowerInvariant();
        return value;
    }

    public Setting Setting { get; }
    public string Key => Setting.YamlKey;
    public IReadOnlyList<string> Values { get; }
    public ScenarioSpec Apply(ScenarioSpec spec, string value, string where) => spec.WithText(Setting, value, where);
}

/// <summary>
/// The clock governor as one axis: <c>default</c>, a number (a fixed clock in MHz), <c>per-phase</c> or
/// <c>per-phase:PREFILL/DECODE</c>, <c>slo-aware</c> or <c>slo-aware:MIN</c>.
/// </summary>
public sealed class ClockDimension : IPlanDimension
{
    public const string Name = "clock";

    public ClockDimension(IReadOnlyList<string> values)
    {
        if (values.Count == 0) throw new ArgumentException("--clock: give at least one value");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var v in values)
        {
            Apply(new ScenarioSpec(), v, "--clock");
            if (!seen.Add(v.Trim().ToLowerInvariant())) throw new ArgumentException($"--clock: '{v}' is given twice; give each clock choice once");
        }
        Values = values;
    }

    public string Key => Name;
    public IReadOnlyList<string> Values { get; }

    public ScenarioSpec Apply(ScenarioSpec spec, string value, string where)
    {
        var v = value.Trim().ToLowerInvariant();
        var (head, tail) = v.Split(':', 2) is [var h, var t] ? (h, t) : (v, null);
        switch (head)
        {
            case "default" when tail is null:
                return spec.WithText(S.ClockGovernor, "default", where);
            case "per-phase":
                spec = spec.WithText(S.ClockGovernor, "per-phase", where);
                if (tail is null) return spec;
                if (tail.Split('/') is not [var p, var d]) break;
                return spec.WithText(S.PrefillClock, p, where).WithText(S.DecodeClock, d, where);
            case "slo-aware":
                spec = spec.WithText(S.ClockGovernor, "slo-aware", where);
                return tail is null ? spec : spec.WithText(S.MinClock, tail, where);
            default:
                if (tail is null && int.TryParse(head, out _)) return spec.WithText(S.ClockGovernor, "fixed", where).WithText(S.SmClock, head, where);
                break;
        }
        throw new ArgumentException($"{where}: '{value}' is not a clock choice: expected default, a fixed clock in MHz (1600), per-phase[:PREFILL/DECODE] or slo-aware[:MIN]");
    }
}

/// <summary>Which instance counts a plan tries for each setting: a list given by the user, or the smallest count that meets the goal, found by bisection in [Min, Max].</summary>
public sealed record InstanceSearch(int Min = 1, int Max = 16, IReadOnlyList<int>? Explicit = null)
{
    public void Validate()
    {
        if (Explicit is { Count: > 0 } e)
        {
            if (e.Any(n => n < 1)) throw new ArgumentException("--instances: every count must be at least 1");
            // The same count twice would evaluate each setting's configuration twice and list it twice on the frontier.
            if (e.GroupBy(n => n).FirstOrDefault(g => g.Count() > 1) is { } twice)
                throw new ArgumentException($"--instances: {twice.Key} is given twice; give each count once");
            return;
        }
        if (Min < 1) throw new ArgumentException($"--min-instances must be at least 1, got {Min}");
        if (Max < Min) throw new ArgumentException($"--max-instances ({Max}) must be at least --min-instances ({Min})");
    }

    public string Describe() => Explicit is { Count: > 0 } e ? string.Join(",", e) : $"bisection in [{Min}, {Max}]";
}

/// <summary>What a plan minimises among the configurations that meet the SLO goal.</summary>
public enum PlanObjective { Energy, Cost, Gpus }

/// <summary>The plan's goal: the fraction of requests that must meet both SLO targets, the objective, and the prices that make up cost.</summary>
/// <param name="Attainment">Fraction of all requests (rejected ones count as misses) that must meet both the TTFT and TPOT targets.</param>
/// <param name="Objective">What is minimised among feasible configurations.</param>
/// <param name="GpuHourPrice">Price of one GPU-hour, added to the energy cost (kWh x PUE x price) for the cost objective.</param>
public sealed record PlanGoal(double Attainment = 0.99, PlanObjective Objective = PlanObjective.Energy, double GpuHourPrice = 0)
{
    public void Validate()
    {
        if (!(Attainment is > 0 and <= 1)) throw new ArgumentException($"--attainment must lie in (0, 1], got {Attainment}");
        if (!(GpuHourPrice >= 0)) throw new ArgumentException($"--gpu-hour-price must not be negative, got {GpuHourPrice}");
    }

    public static PlanObjective ParseObjective(string text) => text.Trim().ToLowerInvariant() switch
    {
        "energy" => PlanObjective.Energy,
        "cost" => PlanObjective.Cost,
        "gpus" => PlanObjective.Gpus,
        _ => throw new ArgumentException($"--objective: '{text}' is not one of energy, cost, gpus"),
    };
}

/// <summary>A plan's search space: the settings every configuration shares, the axes to vary and the instance counts.</summary>
public sealed class PlanSpace
{
    /// <param name="baseSettings">Settings every configuration shares, by YAML key (max_num_seqs) as text, as a command line gives them.</param>
    /// <param name="dimensions">The axes of the search.</param>
    /// <param name="instances">Which instance counts to try.</param>
    public PlanSpace(IReadOnlyDictionary<string, string> baseSettings, IReadOnlyList<IPlanDimension> dimensions, InstanceSearch instances)
    {
        BaseSettings = baseSettings;
        Base = SpecFrom(baseSettings);
        Dimensions = dimensions;
        Instances = instances;
        instances.Validate();
        var dup = dimensions.GroupBy(d => d.Key).FirstOrDefault(g => g.Count() > 1);
        if (dup != null) throw new ArgumentException($"'{dup.Key}' is varied twice");
        if (dimensions.Any(d => d.Key == S.Instances.YamlKey)) throw new ArgumentException("instance counts are searched with --instances / --max-instances, not as a dimension");
    }

    public IReadOnlyDictionary<string, string> BaseSettings { get; }
    public ScenarioSpec Base { get; }
    public IReadOnlyList<IPlanDimension> Dimensions { get; }

    /// <summary>A scenario from settings given by YAML key and text.</summary>
    public static ScenarioSpec SpecFrom(IReadOnlyDictionary<string, string> settings, string where = "plan")
    {
        var spec = new ScenarioSpec();
        foreach (var (k, v) in settings)
        {
            var s = S.ByYamlKey(k) ?? throw new ArgumentException($"{where}: unknown setting '{k}'");
            spec.WithText(s, v, $"{where}: {s.OptionName}");
        }
        return spec;
    }

    /// <summary>The dimension a work-list column names: a simulate setting's YAML key or <see cref="ClockDimension.Name"/>.</summary>
    public static IPlanDimension DimensionFor(string key, IReadOnlyList<string> values) =>
        key == ClockDimension.Name ? new ClockDimension(values)
        : new SettingDimension(S.ByYamlKey(key) ?? throw new ArgumentException($"unknown setting '{key}' to vary"), values);
    public InstanceSearch Instances { get; }

    /// <summary>Every combination of the dimensions' values, in a fixed order (the last dimension varies fastest).</summary>
    public IReadOnlyList<PlanWorkItem> Expand()
    {
        var items = new List<PlanWorkItem>();
        var values = new string[Dimensions.Count];
        void Walk(int d)
        {
            if (d == Dimensions.Count)
            {
                items.Add(new PlanWorkItem(items.Count, Dimensions.Select((x, i) => new KeyValuePair<string, string>(x.Key, values[i])).ToArray()));
                return;
            }
            foreach (var v in Dimensions[d].Values)
            {
                values[d] = v;
                Walk(d + 1);
            }
        }
        Walk(0);
        return items;
    }
}

/// <summary>One setting of the search (all dimensions fixed, the instance count still open): a row of the work list.</summary>
/// <param name="Id">Row number in the work list.</param>
/// <param name="Values">Dimension key and value, in the plan's dimension order.</param>
public sealed record PlanWorkItem(int Id, IReadOnlyList<KeyValuePair<string, string>> Values)
{
    public string Value(string key) => Values.FirstOrDefault(kv => kv.Key == key).Value ?? "";

    /// <summary>"gpu=h200 max_num_seqs=256 clock=1600".</summary>
    public string Describe() => Values.Count == 0 ? "(base)" : string.Join(' ', Values.Select(kv => $"{kv.Key}={kv.Value}"));
}
