using Joules.Simulation.Settings;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Joules.Simulation;

/// <summary>A scenario file: an optional trace, shared defaults, and the configurations to compare on that trace.</summary>
/// <remarks>
/// Keys of <c>defaults</c> and of each scenario are the settings of <see cref="SimulateSettings"/> in snake_case.
/// Every error names the file, line and column, the key, what was expected, and for an unknown key the valid ones.
/// </remarks>
public sealed class ScenarioFile
{
    private static readonly string[] s_topKeys = ["trace", "defaults", "scenarios"];

    public string? Trace { get; private init; }
    public ScenarioSpec Defaults { get; private init; } = new();
    public IReadOnlyList<ScenarioSpec> Scenarios { get; private init; } = [];

    /// <summary>Parses a scenario file.</summary>
    /// <summary>
    /// The configurations to run with <paramref name="commandLine"/>'s settings under the file's (a scenario's own values,
    /// then the file's defaults, then the command line: a file comparing instance counts keeps comparing them), and a
    /// warning for each command-line setting a scenario overrides, which would otherwise be ignored without a word.
    /// </summary>
    public (IReadOnlyList<ScenarioSpec> Specs, IReadOnlyList<string> Warnings) With(ScenarioSpec commandLine)
    {
        var specs = Scenarios.Select(s => s.Over(Defaults).Over(commandLine)).ToList();
        var warnings = new List<string>();
        foreach (var setting in commandLine.SetSettings)
        {
            var overriding = Scenarios.Select((s, i) => (Spec: s.Over(Defaults), Name: specs[i].Text(Settings.SimulateSettings.Name) ?? $"#{i + 1}"))
                .Where(x => x.Spec.IsSet(setting)).Select(x => $"'{x.Name}'").ToArray();
            if (overriding.Length == 0) continue;
            var who = overriding.Length == Scenarios.Count && Scenarios.Count > 1 ? "every scenario" : $"scenario {string.Join(", ", overriding)}";
            warnings.Add($"warning: {setting.OptionName} on the command line is ignored by {who}: the scenario file sets it{(Defaults.IsSet(setting) ? " in its defaults" : "")} (change it there)");
        }
        return (specs, warnings);
    }

    public static ScenarioFile Load(string path)
    {
        if (Directory.Exists(path)) throw new ArgumentException($"--scenario: '{path}' is a directory, not a YAML file");
        if (!File.Exists(path)) throw new FileNotFoundException($"--scenario: '{path}' does not exist", path);
        return Parse(File.ReadAllText(path), path);
    }

    public static ScenarioFile Parse(string yaml, string source = "<scenario>")
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException e)
        {
            var msg = (e.InnerException?.Message ?? e.Message).Trim();
            // YamlDotNet prefixes its own position; keep only the reason.
            var cut = msg.IndexOf("): ", StringComparison.Ordinal);
            if (msg.StartsWith('(') && cut > 0) msg = msg[(cut + 3)..];
            throw new InvalidDataException($"{source}:{e.Start.Line}:{e.Start.Column}: {msg}", e);
        }
        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is not YamlMappingNode root)
            throw new InvalidDataException($"{source}: expected a mapping with a 'scenarios:' list (and optionally 'trace:' and 'defaults:')");
        string? trace = null;
        var defaults = new ScenarioSpec();
        var scenarios = new List<ScenarioSpec>();
        foreach (var (keyNode, value) in root.Children)
        {
            var key = Scalar(keyNode, source, "a key");
            switch (key)
            {
                case "trace":
                    trace = Scalar(value, source, "trace: a file path");
                    break;
                case "defaults":
                    defaults = Spec(value, source, "defaults");
                    break;
                case "scenarios":
                    if (value is not YamlSequenceNode list)
                        throw Error(source, value, "scenarios: expected a list of scenario mappings (lines starting with '- ')");
                    foreach (var item in list.Children) scenarios.Add(Spec(item, source, "scenario"));
                    break;
                default:
                    throw Error(source, keyNode, $"unknown key '{key}'{Suggest(key, s_topKeys)}; expected one of {string.Join(", ", s_topKeys)}");
            }
        }
        if (scenarios.Count == 0)
            throw new InvalidDataException($"{source}: no scenarios (expected a 'scenarios:' list with at least one entry)");
        for (var i = 0; i < scenarios.Count; i++)
            if (!scenarios[i].IsSet(SimulateSettings.Name)) scenarios[i].With(SimulateSettings.Name, $"scenario-{i + 1}");
        var dup = scenarios.GroupBy(s => s.Text(SimulateSettings.Name)).FirstOrDefault(g => g.Count() > 1);
        if (dup != null) throw new InvalidDataException($"{source}: scenario name '{dup.Key}' is used more than once");
        return new ScenarioFile { Trace = trace, Defaults = defaults, Scenarios = scenarios };
    }

    private static ScenarioSpec Spec(YamlNode node, string source, string what)
    {
        if (node is not YamlMappingNode map)
            throw Error(source, node, $"{what}: expected a mapping of settings (key: value), e.g. {{ name: rr, router: round-robin }}");
        var spec = new ScenarioSpec();
        foreach (var (keyNode, value) in map.Children)
        {
            var key = Scalar(keyNode, source, "a setting name");
            var setting = SimulateSettings.ByYamlKey(key) ?? throw Error(source, keyNode,
                $"unknown key '{key}'{Suggest(key, SimulateSettings.All.Select(s => s.YamlKey))}; valid keys: {string.Join(", ", SimulateSettings.All.Select(s => s.YamlKey))}");
            if (value is not YamlScalarNode scalar || scalar.Value is null)
                throw Error(source, value, $"{key}: expected {setting.Expected}, got a {(value is YamlSequenceNode ? "list" : "mapping")}");
            spec.WithText(setting, scalar.Value, $"{source}:{value.Start.Line}:{value.Start.Column}: {key}");
        }
        return spec;
    }

    private static string Scalar(YamlNode node, string source, string what) =>
        node is YamlScalarNode { Value: { } v } ? v : throw Error(source, node, $"expected {what}");

    private static InvalidDataException Error(string source, YamlNode node, string message) =>
        new($"{source}:{node.Start.Line}:{node.Start.Column}: {message}");

    // " (did you mean 'x'?)" for a key within two edits of a valid one.
    private static string Suggest(string key, IEnumerable<string> valid)
    {
        var best = valid.Select(v => (v, d: Distance(key, v))).Where(p => p.d <= 2).OrderBy(p => p.d).FirstOrDefault();
        return best.v is null ? "" : $" (did you mean '{best.v}'?)";
    }

    private static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (var j = 0; j <= b.Length; j++) d[0, j] = j;
        for (var i = 1; i <= a.Length; i++)
        for (var j = 1; j <= b.Length; j++)
            d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
        return d[a.Length, b.Length];
    }
}
