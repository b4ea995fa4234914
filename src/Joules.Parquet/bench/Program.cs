using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Joules.Parquet.Bench;

// joules-parquet-bench: Joules.Parquet against ParquetSharp (Apache Arrow C++) on the same files, in one run.
// Each measurement runs in a fresh process (libraries alternate), so one library's heap never counts against the other.
var settings = Settings.Parse(args);
if (settings == null) return 0;
if (settings.Child is { } child)
{
    var result = Measurement.Run(Libraries.Get(child.Library), child.Op, Dataset.All.Single(d => d.Name == child.Dataset), child.Codec, child.File, settings.Rows, settings.Passes);
    Console.WriteLine(Measurement.ToJson(result));
    return 0;
}
return Runner.Run(settings);

/// <summary>The benchmark's settings, each declared once with its default and help.</summary>
internal sealed record Settings(int Rows, int Runs, int Passes, string Dir, string[] Datasets, string[] Codecs, string[] Ops, bool Keep, ChildArgs? Child)
{
    private static readonly (string Name, string Default, string Help)[] Options =
    [
        ("--rows", "10000000", "rows per table"),
        ("--runs", "3", "measuring processes per library and configuration (libraries alternate); medians are reported"),
        ("--passes", "3", "passes per process: the first (cold) is reported apart, the best of the rest is the figure"),
        ("--dir", "", "folder for the input files (default: a new temporary folder, deleted afterwards)"),
        ("--datasets", string.Join(",", Dataset.All.Select(d => d.Name)), "comma-separated data sets"),
        ("--codecs", "snappy,zstd", "comma-separated codecs (snappy, zstd, gzip, none)"),
        ("--ops", "read,write", "comma-separated operations"),
        ("--keep", "false", "keep the input files (true/false)"),
    ];

    public static Settings? Parse(string[] args)
    {
        var values = Options.ToDictionary(o => o.Name, o => o.Default);
        ChildArgs? child = null;
        int i = 0;
        if (args.Length > 0 && args[0] == "measure")
        {
            if (args.Length < 6) throw new ArgumentException("measure LIBRARY OP DATASET CODEC FILE [--rows N --passes N]");
            child = new ChildArgs(args[1], args[2], args[3], args[4], args[5]);
            i = 6;
        }
        for (; i < args.Length; i++)
        {
            if (args[i] is "-h" or "--help")
            {
                Console.WriteLine("joules-parquet-bench: Joules.Parquet vs ParquetSharp (Apache Arrow C++), read and write, rows/s and memory above the caller's arrays\n");
                foreach (var o in Options) Console.WriteLine($"  {o.Name,-11} {o.Help} (default: {(o.Default.Length > 0 ? o.Default : "-")})");
                Console.WriteLine("\nData sets:");
                foreach (var d in Dataset.All) Console.WriteLine($"  {d.Name,-18} {d.Description} (input written by {d.Writer})");
                return null;
            }
            if (!values.ContainsKey(args[i]) || i + 1 >= args.Length) throw new ArgumentException($"unknown option or missing value: {args[i]} (--help lists the options)");
            values[args[i]] = args[++i];
        }
        static string[] List(string s) => s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        int Int(string name) => int.TryParse(values[name], NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v > 0 ? v
            : throw new ArgumentException($"{name} takes a positive whole number, not '{values[name]}'");
        var datasets = List(values["--datasets"]);
        foreach (var d in datasets)
            if (Dataset.All.All(x => x.Name != d)) throw new ArgumentException($"unknown data set '{d}' (known: {string.Join(", ", Dataset.All.Select(x => x.Name))})");
        return new Settings(Int("--rows"), Int("--runs"), Int("--passes"), values["--dir"], datasets, List(values["--codecs"]), List(values["--ops"]),
            values["--keep"] == "true", child);
    }
}

/// <summary>Arguments of one measuring child process.</summary>
internal sealed record ChildArgs(string Library, string Op, string Dataset, string Codec, string File);

/// <summary>Writes the input files, runs the measuring processes (alternating libraries) and prints the side-by-side table.</summary>
internal static class Runner
{
    public static int Run(Settings s)
    {
        string dir = s.Dir.Length > 0 ? s.Dir : Path.Combine(Path.GetTempPath(), $"joules-parquet-bench-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        var inv = CultureInfo.InvariantCulture;
        Console.WriteLine($"joules-parquet-bench: {s.Rows:N0} rows, {s.Runs} processes per library and configuration, {s.Passes} passes each; " +
                          $"{Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription}, .NET {Environment.Version}, load {Load()}");
        try
        {
            var configs = new List<(Dataset Dataset, string Codec, string File)>();
            foreach (var name in s.Datasets)
            {
                var ds = Dataset.All.Single(d => d.Name == name);
                foreach (var codec in s.Codecs)
                {
                    int rows = s.Rows / ds.RowsDivisor;
                    var file = Path.Combine(dir, $"{ds.Name}.{rows}.{codec}.parquet");
                    if (!File.Exists(file))
                    {
                        var table = ds.Generate(rows);
                        var writer = Libraries.Get(ds.Writer);
                        writer.Write(file, ds, writer.NullableShape ? table.ToNullable() : table, codec, ds.RowGroupRows);
                    }
                    configs.Add((ds, codec, file));
                }
            }
            var results = new List<MeasureResult>();
            for (int run = 0; run < s.Runs; run++)
            {
                foreach (var (ds, codec, file) in configs)
                foreach (var op in s.Ops)
                {
                    // Alternate which library goes first, so neither always runs on a warmer page cache.
                    var order = run % 2 == 0 ? Libraries.All : Libraries.All.Reverse().ToArray();
                    foreach (var lib in order) results.Add(Child(s, lib.Name, op, ds.Name, codec, file));
                }
                Console.Error.WriteLine($"run {run + 1} of {s.Runs} done (load {Load()})");
            }
            Report.Print(Console.Out, results, configs.Select(c => (c.Dataset.Name, c.Codec, c.Dataset.Writer)).ToList());
            Console.WriteLine($"load at the end: {Load()}");
            return 0;
        }
        finally
        {
            if (!s.Keep && s.Dir.Length == 0) Directory.Delete(dir, recursive: true);
        }
    }

    private static MeasureResult Child(Settings s, string lib, string op, string dataset, string codec, string file)
    {
        var self = Environment.ProcessPath ?? "dotnet";
        var psi = new ProcessStartInfo(self) { RedirectStandardOutput = true, RedirectStandardError = true };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet") psi.ArgumentList.Add(typeof(Runner).Assembly.Location);
        foreach (var a in new[] { "measure", lib, op, dataset, codec, file, "--rows", s.Rows.ToString(CultureInfo.InvariantCulture), "--passes", s.Passes.ToString(CultureInfo.InvariantCulture) })
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("could not start a measuring process");
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{lib} {op} {dataset}/{codec} failed (exit {p.ExitCode}): {stderr.Result}");
        return Measurement.FromJson(stdout.Trim().Split('\n').Last());
    }

    public static string Load()
    {
        try { return string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)); }
        catch (IOException) { return "unknown"; }
    }
}
