using System.CommandLine;
using Joules.Replay;
using Joules.Traces;

namespace Joules.Cli.Commands;

/// <summary>The `joules replay` command: wiring only (the load generator lives in Joules.Replay).</summary>
public static class ReplayCommand
{
    public static Command Create()
    {
        var endpoint = new Option<string>("--endpoint", "-e") { Description = "Base URL of the OpenAI-compatible server (vLLM, SGLang, TGI, joules serve)", DefaultValueFactory = _ => "http://127.0.0.1:8000" };
        var trace = new Option<string?>("--trace", "-t") { Description = $"Trace to send (any layout `joules trace import` reads); default: the shipped {SimulateCommands.DefaultTrace}" };
        var start = new Option<string?>("--start") { Description = "Start of the window, after the trace's first arrival (e.g. 90s, 5m); default 0" };
        var duration = new Option<string?>("--duration") { Description = "Trace time the window spans (e.g. 10m); default: to the end" };
        var limit = CliOptions.OptionalCount("--limit", "Send at most this many requests (the first of the window)", "a positive whole number", v => v > 0);
        var rate = CliOptions.Number("--rate-scale", "Multiply the arrival rate (2 sends the window in half the time)", "a positive number", v => v > 0, 1.0);
        var offline = new Option<bool>("--offline") { Description = "Send every request at once (an offline backlog), as `simulate --mode offline`" };
        var concurrency = CliOptions.OptionalCount("--max-concurrency", "Most requests in flight; later ones wait (their lag is reported)", "a positive whole number", v => v is > 0 and <= int.MaxValue);
        var model = new Option<string?>("--model", "-m") { Description = "Served model name; default: the first /v1/models lists" };
        var noIgnoreEos = new Option<bool>("--no-ignore-eos") { Description = "Do not send ignore_eos/min_tokens (outputs may end early at EOS)" };
        var seed = CliOptions.Whole("--seed", "Seed of the prompt token ids", "a whole number", null, 0);
        var energy = CliOptions.Choice("--energy", "Where energy comes from: auto (local NVML GPUs, else the endpoint's joules:gpu_energy_joules_total), nvml, endpoint, none", EnergyMode.Auto);
        var gpus = new Option<string?>("--gpus") { Description = "NVML indices of the GPUs to measure, e.g. 0 or 0,1; default: all" };
        var interval = CliOptions.Number("--sample-interval", "Seconds between energy samples", "a positive number of seconds", v => v > 0, 0.1);
        var timeout = CliOptions.Number("--timeout", "Longest one request may take, seconds", "a positive number of seconds", v => v > 0, 3600.0);
        var noTokens = new Option<bool>("--no-token-times") { Description = "Do not write tokens.parquet (every streamed token's time)" };
        var output = new Option<string>("--out", "-o") { Description = "Folder for requests.parquet, power.parquet, summary.json (the schema of `simulate --out`), run.json and tokens.parquet", Required = true };
        var cmd = new Command("replay",
            "Open-loop load generator: send each request of a trace to an OpenAI-compatible endpoint at its arrival time (prompt of its input length, " +
            "max_tokens = its output length, EOS ignored), stream and time every token, sample GPU energy (NVML, read-only), write the run");
        foreach (var o in new Option[] { endpoint, trace, start, duration, limit, rate, offline, concurrency, model, noIgnoreEos, seed, energy, gpus, interval, timeout, noTokens, output })
            cmd.Options.Add(o);
        cmd.SetAction(async (p, cancel) =>
        {
            var stdout = p.InvocationConfiguration.Output;
            var stderr = p.InvocationConfiguration.Error;
            if (!Uri.TryCreate(p.GetValue(endpoint), UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
                throw new ArgumentException($"--endpoint: '{p.GetValue(endpoint)}' is not an http(s) URL");
            double Seconds(Option<string?> o, string name) => p.GetValue(o) is { } s
                ? TraceDuration.TryParseSeconds(s, out var v) ? v : throw new ArgumentException($"{name}: '{s}' is not a duration (e.g. 90s, 5m, 1h)")
                : 0;
            var window = new ReplayWindow
            {
                StartS = Seconds(start, "--start"),
                DurationS = p.GetValue(duration) is null ? null : Seconds(duration, "--duration"),
                Limit = p.GetValue(limit),
                RateScale = p.GetValue(rate),
                Offline = p.GetValue(offline),
            };
            IReadOnlyList<int>? gpuList = p.GetValue(gpus) is { } g
                ? g.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
                    .Select(x => int.TryParse(x, out var i) && i >= 0 ? i : throw new ArgumentException($"--gpus: '{x}' is not a GPU index")).ToArray()
                : null;
            var options = new ReplayOptions
            {
                Endpoint = uri,
                TracePath = p.GetValue(trace) ?? SimulateCommands.FindDefaultTrace(),
                Window = window,
                MaxConcurrency = p.GetValue(concurrency) is { } c ? (int)c : null,
                Model = p.GetValue(model),
                IgnoreEos = !p.GetValue(noIgnoreEos),
                Seed = p.GetValue(seed),
                Energy = p.GetValue(energy),
                Gpus = gpuList,
                SampleIntervalS = p.GetValue(interval),
                RequestTimeoutS = p.GetValue(timeout),
                Command = "joules " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1)),
                ToolVersion = Program.VersionString,
            };
            var run = await ReplayRunner.RunAsync(options, line => stderr.WriteLine(line), cancel);
            var folder = ReplayOutputs.Write(p.GetValue(output)!, run, !p.GetValue(noTokens), cancel);
            foreach (var line in ReplayOutputs.Report(run)) stdout.WriteLine(line);
            stdout.WriteLine($"wrote {string.Join(", ", ReplayOutputs.Files(run, !p.GetValue(noTokens)))} under {folder}");
            return run.Metadata.RequestsFailed == run.Metadata.RequestsSent ? 1 : 0;
        });
        return cmd;
    }
}
