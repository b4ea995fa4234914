using System.CommandLine;
using System.Text.RegularExpressions;
using Joules.Cli;
using Xunit;

namespace Joules.Cli.Tests;

/// <summary>Every command's `--help` as a user reads it: each option listed once, each default shown one way.</summary>
public sealed partial class HelpTests
{
    /// <summary>Every command path under `joules` ("plan", "plan merge", "trace sample", ...).</summary>
    public static TheoryData<string> Commands()
    {
        var data = new TheoryData<string>();
        void Walk(Command c, string path)
        {
            foreach (var sub in c.Subcommands)
            {
                var p = path.Length == 0 ? sub.Name : path + " " + sub.Name;
                data.Add(p);
                Walk(sub, p);
            }
        }
        Walk(Program.BuildRoot(), "");
        return data;
    }

    private static string Help(string command)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        var code = Program.Run([.. command.Split(' '), "--help"], o, e);
        Assert.True(code == 0, e.ToString());
        return o.ToString();
    }

    /// <summary>The option rows of a help page: "  -n, --instances &lt;instances&gt;  description".</summary>
    private static IEnumerable<(string[] Names, string Text)> Options(string help) =>
        help.Split('\n').SkipWhile(l => !l.StartsWith("Options:", StringComparison.Ordinal)).Skip(1)
            .TakeWhile(l => l.Trim().Length > 0)
            .Select(l => OptionRow().Match(l)).Where(m => m.Success)
            .Select(m => (m.Groups["names"].Value.Split(',', StringSplitOptions.TrimEntries), m.Groups["text"].Value));

    [GeneratedRegex(@"^  (?<names>-[^ <]*(?:, -[^ <]*)*)(?: <[^>]*>)?\s{2,}(?<text>.*)$")]
    private static partial Regex OptionRow();

    [Theory]
    [MemberData(nameof(Commands))]
    public void No_option_name_appears_twice_in_a_commands_help(string command)
    {
        var names = Options(Help(command)).SelectMany(o => o.Names).ToArray();
        Assert.NotEmpty(names);
        var twice = names.GroupBy(n => n).Where(g => g.Count() > 1).Select(g => g.Key).ToArray();
        Assert.True(twice.Length == 0, $"joules {command} --help lists {string.Join(", ", twice)} more than once");
    }

    [Theory]
    [MemberData(nameof(Commands))]
    public void No_option_shows_its_default_twice(string command)
    {
        foreach (var (names, text) in Options(Help(command)))
            Assert.False(text.Contains("(default:", StringComparison.Ordinal) && text.Contains("[default:", StringComparison.Ordinal),
                $"joules {command} --help, {string.Join(", ", names)}: '{text}' gives its default twice");
    }

    [Fact]
    public void Plans_help_lists_the_bisection_bound_once_and_not_the_autoscalers_floor()
    {
        var rows = Options(Help("plan")).Where(o => o.Names.Contains("--min-instances")).ToArray();
        var row = Assert.Single(rows);
        Assert.Contains("bisection", row.Text);
    }
}
