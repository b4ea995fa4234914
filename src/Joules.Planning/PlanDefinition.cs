using S = Joules.Simulation.Settings.SimulateSettings;

namespace Joules.Planning;

/// <summary>Turns what a user asked for (settings given as lists, clock choices, `--vary KEY=V1,V2`) into a plan header: one value makes a shared setting, several a dimension.</summary>
public static class PlanDefinition
{
    /// <summary>Splits "a,b, c" into its values.</summary>
    public static IReadOnlyList<string> SplitList(string text) =>
        text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);

    /// <param name="settings">Simulate settings the user gave, by YAML key, each as a list of texts.</param>
    /// <param name="clock">Clock choices (<see cref="ClockDimension"/>), or none.</param>
    /// <param name="vary">Further dimensions as KEY=V1,V2 (any simulate setting's YAML key or option name).</param>
    /// <param name="trace">Trace file replayed, or fitted to when <paramref name="durationSeconds"/> is given.</param>
    /// <param name="durationSeconds">Length of a synthetic trace fitted to <paramref name="trace"/> (`--like` + `--duration`).</param>
    /// <param name="seed">Seed of the synthetic trace and random routers.</param>
    /// <param name="goal">SLO attainment goal and objective.</param>
    /// <param name="instances">Instance counts to try.</param>
    /// <param name="command">The command line, for provenance.</param>
    /// <param name="toolVersion">The joules version, for provenance.</param>
    public static PlanHeader Create(IReadOnlyDictionary<string, IReadOnlyList<string>> settings, IReadOnlyList<string> clock, IReadOnlyList<string> vary,
        string trace, double? durationSeconds, int seed, PlanGoal goal, InstanceSearch instances, string command, string toolVersion)
    {
        goal.Validate();
        instances.Validate();
        if (durationSeconds is { } d && !(d > 0)) throw new ArgumentException($"--duration must be positive, got {d} s");
        var baseSettings = new Dictionary<string, string>(StringComparer.Ordinal);
        var dims = new Dictionary<string, string[]>(StringComparer.Ordinal);
        var order = new List<string>();
        void Add(string key, IReadOnlyList<string> values, string where)
        {
            if (values.Count == 0) throw new ArgumentException($"{where}: give at least one value");
            if (baseSettings.ContainsKey(key) || dims.ContainsKey(key)) throw new ArgumentException($"{where}: '{key}' is given twice");
            var dim = PlanSpace.DimensionFor(key, values); // checks every value
            if (values.Count == 1 && key != ClockDimension.Name) baseSettings[key] = values[0];
            else
            {
                dims[key] = dim.Values.ToArray();
                order.Add(key);
            }
        }
        foreach (var (k, v) in settings)
        {
            if (k == S.Instances.YamlKey || k == S.Name.YamlKey) continue;
            Add(k, v, S.ByYamlKey(k)?.OptionName ?? k);
        }
        if (clock.Count > 0)
        {
            foreach (var k in new Joules.Simulation.Settings.Setting[] { S.ClockGovernor, S.SmClock, S.PrefillClock, S.DecodeClock, S.MinClock })
                if (settings.ContainsKey(k.YamlKey)) throw new ArgumentException($"--clock sets the clock governor; drop {k.OptionName} (write e.g. --clock default,1600,per-phase:1980/1200,slo-aware:800)");
            Add(ClockDimension.Name, clock, "--clock");
        }
        foreach (var v in vary)
        {
            if (v.Split('=', 2) is not [var key, var list] || key.Trim().Length == 0)
                throw new ArgumentException($"--vary: '{v}' is not KEY=V1,V2 (e.g. --vary prefix_caching=on,off)");
            var k = key.Trim().TrimStart('-').Replace('-', '_');
            Add(k, SplitList(list), $"--vary {key.Trim()}");
        }
        var header = new PlanHeader
        {
            ToolVersion = toolVersion,
            Command = command,
            Trace = trace,
            TraceSha256 = PlanTrace.Sha256(trace),
            DurationSeconds = durationSeconds,
            Seed = seed,
            Attainment = goal.Attainment,
            Objective = goal.Objective.ToString().ToLowerInvariant(),
            GpuHourPrice = goal.GpuHourPrice,
            MinInstances = instances.Min,
            MaxInstances = instances.Max,
            ExplicitInstances = instances.Explicit?.ToArray() ?? [],
            Base = baseSettings,
            Dimensions = dims,
            DimensionOrder = order.ToArray(),
        };
        if (goal.Objective == PlanObjective.Cost && !baseSettings.ContainsKey(S.Price.YamlKey) && !dims.ContainsKey(S.Price.YamlKey) && goal.GpuHourPrice == 0)
            throw new ArgumentException("--objective cost needs a price: --price (per kWh) and/or --gpu-hour-price");
        header.Space(); // checks the combination once more as the evaluators will read it
        return header;
    }
}
