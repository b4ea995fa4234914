using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace Joules.Cli;

/// <summary>
/// Typed options whose parse errors name the option, the value and what was expected ("--fraction: '2' is not a
/// probability in [0, 1]"), instead of System.CommandLine's default message with a .NET type name in it.
/// </summary>
public static class CliOptions
{
    private static readonly CultureInfo Ci = CultureInfo.InvariantCulture;

    /// <summary>A number option; <paramref name="expected"/> completes "is not …" (e.g. "a positive rate in requests/s"), <paramref name="valid"/> checks the range.</summary>
    public static Option<double> Number(string name, string description, string expected, Func<double, bool>? valid = null, double? defaultValue = null, params string[] aliases)
    {
        var o = new Option<double>(name, aliases) { Description = description, CustomParser = r => Parse(r, name, expected, TryDouble, valid) };
        if (defaultValue is { } d) o.DefaultValueFactory = _ => d;
        return o;
    }

    /// <summary>A number option that may be left out (null).</summary>
    public static Option<double?> OptionalNumber(string name, string description, string expected, Func<double, bool>? valid = null, params string[] aliases) =>
        new(name, aliases) { Description = description, CustomParser = r => Parse(r, name, expected, TryDouble, valid) };

    /// <summary>A whole-number option.</summary>
    public static Option<int> Whole(string name, string description, string expected, Func<int, bool>? valid = null, int? defaultValue = null, params string[] aliases)
    {
        var o = new Option<int>(name, aliases) { Description = description, CustomParser = r => Parse(r, name, expected, TryInt, valid) };
        if (defaultValue is { } d) o.DefaultValueFactory = _ => d;
        return o;
    }

    /// <summary>A whole-number option that may be left out (null), for a default that is not a number ("one per core").</summary>
    public static Option<int?> OptionalWhole(string name, string description, string expected, Func<int, bool>? valid = null, params string[] aliases) =>
        new(name, aliases) { Description = description, CustomParser = r => Parse(r, name, expected, TryInt, valid) };

    /// <summary>A whole-number option that may be left out (null).</summary>
    public static Option<long?> OptionalCount(string name, string description, string expected, Func<long, bool>? valid = null, params string[] aliases) =>
        new(name, aliases) { Description = description, CustomParser = r => Parse(r, name, expected, TryLong, valid) };

    /// <summary>An enum option written in lower case (auto, azure, …); an unknown value lists the valid ones.</summary>
    /// <remarks>Help lists the names as they are typed, not the enum's PascalCase.</remarks>
    public static Option<T> Choice<T>(string name, string description, T defaultValue, params string[] aliases) where T : struct, Enum =>
        new(name, aliases)
        {
            Description = description, HelpName = HelpNames<T>(),
            DefaultValueFactory = _ => defaultValue, CustomParser = r => ParseChoice<T>(r, name) ?? defaultValue,
        };

    /// <summary>An enum option that may be left out (null).</summary>
    public static Option<T?> OptionalChoice<T>(string name, string description, params string[] aliases) where T : struct, Enum =>
        new(name, aliases) { Description = description, HelpName = HelpNames<T>(), CustomParser = r => ParseChoice<T>(r, name) };

    private static string HelpNames<T>() where T : struct, Enum => string.Join("|", Enum.GetNames<T>().Select(n => n.ToLowerInvariant()));

    /// <summary>The lower-case names of an enum's values, as the options accept them.</summary>
    public static string Names<T>() where T : struct, Enum => string.Join(", ", Enum.GetNames<T>().Select(n => n.ToLowerInvariant()));

    private delegate bool TryParse<T>(string text, out T value);

    private static T Parse<T>(ArgumentResult r, string name, string expected, TryParse<T> parse, Func<T, bool>? valid) where T : struct
    {
        var text = r.Tokens.Count > 0 ? r.Tokens[^1].Value : "";
        if (parse(text, out var v) && (valid?.Invoke(v) ?? true)) return v;
        r.AddError($"{name}: '{text}' is not {expected}");
        return default;
    }

    private static T? ParseChoice<T>(ArgumentResult r, string name) where T : struct, Enum
    {
        var text = r.Tokens.Count > 0 ? r.Tokens[^1].Value : "";
        if (Enum.TryParse<T>(text, ignoreCase: true, out var v) && Enum.IsDefined(v) && !text.All(char.IsAsciiDigit)) return v;
        r.AddError($"{name}: '{text}' is not one of {Names<T>()}");
        return null;
    }

    private static bool TryDouble(string s, out double v) =>
        double.TryParse(s, NumberStyles.Float, Ci, out v) && double.IsFinite(v);

    private static bool TryInt(string s, out int v) => int.TryParse(s, NumberStyles.Integer, Ci, out v);

    private static bool TryLong(string s, out long v)
    {
        // "1e6" and "30_000_000" are how people write big counts.
        var t = s.Replace("_", "", StringComparison.Ordinal);
        if (long.TryParse(t, NumberStyles.Integer, Ci, out v)) return true;
        if (double.TryParse(t, NumberStyles.Float, Ci, out var d) && d == Math.Floor(d) && Math.Abs(d) < 9e18) { v = (long)d; return true; }
        return false;
    }

    /// <summary>System.CommandLine's own parse messages, rewritten where they would show a .NET type name ("… as expected type 'System.Nullable`1[System.Double]'").</summary>
    public static string Friendly(string message)
    {
        const string prefix = "Cannot parse argument '";
        if (!message.StartsWith(prefix, StringComparison.Ordinal)) return message;
        var valueEnd = message.IndexOf("' for option '", prefix.Length, StringComparison.Ordinal);
        var optionEnd = valueEnd < 0 ? -1 : message.IndexOf("' as expected type '", valueEnd + 14, StringComparison.Ordinal);
        if (optionEnd < 0) return message;
        var value = message[prefix.Length..valueEnd];
        var option = message[(valueEnd + 14)..optionEnd];
        var type = message[(optionEnd + 20)..].TrimEnd('.', '\'');
        var what = type.Contains("Double") || type.Contains("Single") || type.Contains("Decimal") ? "a number"
            : type.Contains("Int") ? "a whole number"
            : type.Contains("Boolean") ? "true or false"
            : type.Contains("TimeSpan") ? "a duration"
            : "a valid value";
        return $"{option}: '{value}' is not {what}";
    }
}
