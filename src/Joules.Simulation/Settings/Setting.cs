using System.Globalization;

namespace Joules.Simulation.Settings;

/// <summary>
/// One user-facing setting, declared once: its name (the command-line option is <c>--name</c>, the YAML key the
/// snake_case of it), value type, help, the default as help shows it, and how text and YAML values are checked.
/// Everything that exposes settings (the CLI's options, scenario files, `--help`, validation) is derived from these.
/// </summary>
public abstract class Setting
{
    protected Setting(string name, string help, string defaultText, string? alias)
    {
        Name = name;
        Help = help;
        DefaultText = defaultText;
        Alias = alias;
        YamlKey = name.Replace('-', '_');
    }

    /// <summary>kebab-case name: the option is --Name.</summary>
    public string Name { get; }
    /// <summary>Key in scenario files.</summary>
    public string YamlKey { get; }
    /// <summary>Short option alias such as "-n", or null.</summary>
    public string? Alias { get; }
    public string Help { get; }
    /// <summary>The default as a user should read it ("8192 online, 16384 offline"); empty when there is none.</summary>
    public string DefaultText { get; }
    /// <summary>What a value must look like, for messages ("a whole number", "on or off", "one of ...").</summary>
    public abstract string Expected { get; }
    /// <summary>True for on/off settings, which also get a --no-Name form on the command line.</summary>
    public virtual bool IsSwitch => false;

    /// <summary>Help text with the default appended.</summary>
    public string HelpWithDefault => DefaultText.Length == 0 ? Help : $"{Help} (default: {DefaultText})";

    /// <summary>Parses and validates a value given as text; errors say <paramref name="where"/>, the value and what was expected.</summary>
    public abstract object ParseValue(string text, string where);

    /// <summary>How the setting is named in messages about the command line.</summary>
    public string OptionName => "--" + Name;
}

/// <summary>Parses a setting's text; false when the text is not a value of the setting's type.</summary>
public delegate bool SettingParser<T>(string text, out T value);

/// <summary>A setting whose value is a <typeparamref name="T"/>.</summary>
public sealed class Setting<T> : Setting where T : notnull
{
    private readonly SettingParser<T> _parse;
    private readonly Func<T, string?>? _validate;

    public Setting(string name, string help, string defaultText, string expected, SettingParser<T> parse,
        Func<T, string?>? validate = null, string? alias = null, IReadOnlyList<string>? choices = null)
        : base(name, help, defaultText, alias)
    {
        _parse = parse;
        _validate = validate;
        Expected = expected;
        Choices = choices;
    }

    public override string Expected { get; }
    public IReadOnlyList<string>? Choices { get; }
    public override bool IsSwitch => typeof(T) == typeof(bool);

    public override object ParseValue(string text, string where) => Parse(text, where);

    public T Parse(string text, string where)
    {
        if (!_parse(text.Trim(), out var value)) throw new ArgumentException($"{where}: '{text}' is not {Expected}");
        Check(value, where);
        return value;
    }

    /// <summary>Validates a value that came from code rather than text.</summary>
    public void Check(T value, string where)
    {
        if (_validate?.Invoke(value) is { } problem) throw new ArgumentException($"{where}: {problem}");
    }
}

/// <summary>Builders for the common kinds of setting, with the parsing and messages they share.</summary>
public static class Settings
{
    private static readonly CultureInfo C = CultureInfo.InvariantCulture;

    public static Setting<int> Int(string name, string help, string defaultText, int min = int.MinValue, int max = int.MaxValue, string? alias = null) =>
        new(name, help, defaultText, min > 0 ? "a positive whole number" : "a whole number",
            (string t, out int v) => int.TryParse(t.Replace("_", ""), NumberStyles.Integer, C, out v),
            v => v < min ? $"must be at least {min}, got {v}" : v > max ? $"must be at most {max}, got {v}" : null, alias);

    public static Setting<long> Long(string name, string help, string defaultText, long min = long.MinValue, string? alias = null) =>
        new(name, help, defaultText, min > 0 ? "a positive whole number" : "a whole number",
            (string t, out long v) => long.TryParse(t.Replace("_", ""), NumberStyles.Integer, C, out v),
            v => v < min ? $"must be at least {min}, got {v}" : null, alias);

    public static Setting<double> Double(string name, string help, string defaultText, double min = double.NegativeInfinity, bool minExclusive = false,
        double max = double.PositiveInfinity, string? alias = null) =>
        new(name, help, defaultText, "a number",
            (string t, out double v) => double.TryParse(t, NumberStyles.Float, C, out v) && double.IsFinite(v),
            v => minExclusive && !(v > min) ? $"must be greater than {min.ToString(C)}, got {v.ToString(C)}"
                : !minExclusive && v < min ? $"must be at least {min.ToString(C)}, got {v.ToString(C)}"
                : v > max ? $"must be at most {max.ToString(C)}, got {v.ToString(C)}" : null, alias);

    public static Setting<string> Text(string name, string help, string defaultText, string expected = "a text", string? alias = null) =>
        new(name, help, defaultText, expected, (string t, out string v) => (v = t).Length > 0, null, alias);

    public static Setting<string> Choice(string name, string help, string defaultText, IReadOnlyList<string> choices, string? alias = null) =>
        new(name, help, defaultText, "one of " + string.Join(", ", choices),
            (string t, out string v) => (v = choices.FirstOrDefault(c => string.Equals(c, t, StringComparison.OrdinalIgnoreCase))!) != null, null, alias, choices);

    public static Setting<bool> Switch(string name, string help, string defaultText) =>
        new(name, help, defaultText, "on or off (true/false, yes/no)", ParseSwitch);

    private static bool ParseSwitch(string t, out bool v)
    {
        switch (t.ToLowerInvariant())
        {
            case "on" or "true" or "yes" or "1": v = true; return true;
            case "off" or "false" or "no" or "0": v = false; return true;
            default: v = false; return false;
        }
    }
}
