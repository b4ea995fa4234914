using System.CommandLine;
using Joules.Simulation;
using Joules.Simulation.Settings;

namespace Joules.Cli.Commands;

/// <summary>Command-line options made from a settings table: one per setting (plus --no-X for switches), with help and default from the declaration.</summary>
internal sealed class SettingOptions
{
    private readonly List<(Setting Setting, Option<string?> Option, Option<bool>? Negated)> _options = [];

    public SettingOptions(IEnumerable<Setting> settings)
    {
        foreach (var s in settings)
        {
            var names = s.Alias is { } a ? new[] { a } : [];
            var o = new Option<string?>(s.OptionName, names) { Description = s.HelpWithDefault, HelpName = HelpName(s) };
            Option<bool>? no = null;
            if (s.IsSwitch)
            {
                // `--prefix-caching` alone means on; `--prefix-caching off` and `--no-prefix-caching` mean off.
                o.Arity = ArgumentArity.ZeroOrOne;
                no = new Option<bool>("--no-" + s.Name) { Description = $"Same as {s.OptionName} off" };
            }
            _options.Add((s, o, no));
        }
    }

    public IEnumerable<Option> All => _options.SelectMany(o => o.Negated is null ? new Option[] { o.Option } : [o.Option, o.Negated]);

    /// <summary>The scenario the command line describes: only what was given is set.</summary>
    public ScenarioSpec Spec(ParseResult p)
    {
        var spec = new ScenarioSpec();
        foreach (var (s, o, no) in _options)
        {
            if (no is not null && p.GetValue(no)) { spec.WithText(s, "off", s.OptionName); continue; }
            var r = p.GetResult(o);
            if (r is null || r.Implicit) continue;
            var text = p.GetValue(o);
            if (text is null && s.IsSwitch) text = "on";
            if (text is null) throw new ArgumentException($"{s.OptionName} needs a value: {s.Expected}");
            spec.WithText(s, text, s.OptionName);
        }
        return spec;
    }

    private static string HelpName(Setting s) => s switch
    {
        _ when s.IsSwitch => "on|off",
        Setting<string> { Choices: { } c } => string.Join("|", c),
        Setting<int> or Setting<long> => "N",
        Setting<double> => "X",
        _ => "VALUE",
    };
}
