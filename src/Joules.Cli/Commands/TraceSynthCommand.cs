using System.CommandLine;
using System.Globalization;
using Joules.Traces;
using Joules.Traces.Canonical;
using Joules.Traces.Synthesis;

namespace Joules.Cli.Commands;

/// <summary>`joules trace synth`: seeded, streaming synthetic traces, optionally fitted to a real one with --like.</summary>
internal static class TraceSynthCommand
{
    public static Command Create()
    {
        var output = TraceCommands.OutputOption("Canonical trace to write (.parquet or .csv); streamed to a temporary file as it is generated and renamed into place when complete");
        var like = new Option<FileInfo?>("--like") { Description = "Fit to this trace (any supported format): its mean rate, inter-arrival CV (gamma arrivals), start time, duration and token lengths" };
        var requests = CliOptions.OptionalCount("--requests", "Number of requests to generate (with --duration and no --rate, the rate is requests/duration)", "a whole number of requests, at least 1", v => v >= 1, "-n");
        var duration = new Option<string?>("--duration", "-d") { Description = "Length of the trace: 300s, 5m, 1h, 7d (default with --like: the source's duration)" };
        var rate = CliOptions.OptionalNumber("--rate", "Mean arrival rate, requests/s (the daily mean with --diurnal; default with --like: the source's)", "a positive rate in requests/s", v => v > 0, "-r");
        var arrival = CliOptions.OptionalChoice<ArrivalProcess>("--arrival", "Inter-arrival process: poisson (exponential gaps) or gamma (gaps with CV --cv); default gamma with the source's CV under --like, else poisson");
        var cv = CliOptions.OptionalNumber("--cv", "Coefficient of variation of gamma gaps: >1 bursty, 1 Poisson-like, <1 regular (default with --like: the source's)", "a positive coefficient of variation", v => v > 0);
        var diurnal = CliOptions.Number("--diurnal", "Daily rate swing A in [0,1): rate·(1 + A·cos(2π(hour − peak)/24)); 0 (default) is flat", "an amplitude in [0, 1)", v => v is >= 0 and < 1, 0);
        var peak = CliOptions.Number("--diurnal-peak", "Hour of day (UTC) at which the diurnal rate peaks", "an hour of the day in [0, 24)", v => v is >= 0 and < 24, 14);
        var lengths = new Option<string>("--lengths") { Description = "With --like: resample (draw real (input, output) pairs, keeping their correlation) or lognormal (fitted independently)", DefaultValueFactory = _ => "resample" };
        lengths.AcceptOnlyFromAmong("resample", "lognormal");
        var inMean = CliOptions.Number("--input-mean", "Without --like: mean input tokens (log-normal)", "a positive mean token count", v => v > 0, 1024);
        var inCv = CliOptions.Number("--input-cv", "Without --like: CV of input tokens", "a positive coefficient of variation", v => v > 0, 1.0);
        var outMean = CliOptions.Number("--output-mean", "Without --like: mean output tokens (log-normal)", "a positive mean token count", v => v > 0, 256);
        var outCv = CliOptions.Number("--output-cv", "Without --like: CV of output tokens", "a positive coefficient of variation", v => v > 0, 1.0);
        var start = new Option<string?>("--start") { Description = "Date-time of the trace start (default: the source's first arrival with --like, else 2024-01-01T00:00:00Z)" };
        var seed = CliOptions.Whole("--seed", "Random seed: the same options and seed give the same trace", "a whole number", defaultValue: 1, aliases: "-s");
        var model = new Option<string?>("--model") { Description = "Model name to stamp on every request" };
        var cmd = new Command("synth",
            "Generate a synthetic trace: Poisson or gamma arrivals, optionally on a diurnal rate curve, with token lengths resampled from or fitted to a real trace (--like) or log-normal. " +
            "Prints the expected requests and file size first, then streams to the output in batches; 30 million requests need no more memory than 3,000.");
        foreach (var o in new Option[] { output, like, requests, duration, rate, arrival, cv, diurnal, peak, lengths, inMean, inCv, outMean, outCv, start, seed, model })
            cmd.Options.Add(o);
        cmd.SetAction((p, cancel) =>
        {
            var o = p.InvocationConfiguration.Output;
            var outPath = p.GetValue(output)!.FullName;
            CanonicalTraceWriter.CheckPath(outPath);
            TraceProfile? profile = null;
            if (p.GetValue(like) is { } likeFile)
            {
                using var progress = TraceRun.Progress(p);
                var source = TraceSource.Open(likeFile.FullName, null, progress, cancel);
                profile = TraceProfile.Fit(likeFile.Name, source.Read(cancel).ToArray());
                o.WriteLine($"fitted to {profile.Describe()}");
            }
            var n = p.GetValue(requests);
            double? d = p.GetValue(duration) is { } ds ? Duration(ds) : null;
            // Two of requests, duration and rate fix the third; all three disagree unless they happen to agree exactly.
            if (n is not null && d is not null && p.GetValue(rate) is not null)
                throw new ArgumentException("--requests, --duration and --rate: give two of them (the third follows)");
            if (n is null && d is null)
                d = profile?.DurationSeconds ?? throw new ArgumentException("give --requests N or --duration D (or --like FILE to copy its duration)");
            var r = p.GetValue(rate) ?? (n is { } nn && d is { } dd && dd > 0 ? nn / dd : profile?.Rate)
                ?? throw new ArgumentException("give --rate R (or --requests with --duration, or --like FILE)");
            var process = p.GetValue(arrival) ?? (profile is null ? ArrivalProcess.Poisson : ArrivalProcess.Gamma);
            var options = new SynthesisOptions
            {
                Requests = n,
                DurationSeconds = n is null ? d : null,
                Rate = r,
                Arrival = process,
                Cv = p.GetValue(cv) ?? profile?.InterarrivalCv ?? 1,
                DiurnalAmplitude = p.GetValue(diurnal),
                DiurnalPeakHour = p.GetValue(peak),
                StartMicros = p.GetValue(start) is { } s ? TraceCommands.ParseTime(s, "--start")
                    : profile?.StartMicros ?? new DateTimeOffset(2024, 1, 1, 0, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds() * 1000,
                Seed = p.GetValue(seed),
                Model = p.GetValue(model),
            };
            LengthModel lengthModel = profile is not null
                ? profile.Lengths(p.GetValue(lengths)!)
                : new LogNormalLengths(
                    LogNormalLengths.FromMeanCv(p.GetValue(inMean), p.GetValue(inCv)).Mu, LogNormalLengths.FromMeanCv(p.GetValue(inMean), p.GetValue(inCv)).Sigma,
                    LogNormalLengths.FromMeanCv(p.GetValue(outMean), p.GetValue(outCv)).Mu, LogNormalLengths.FromMeanCv(p.GetValue(outMean), p.GetValue(outCv)).Sigma);
            var synth = new TraceSynthesizer(options, lengthModel);
            var estimate = SynthesisEstimate.For(options, outPath);
            o.WriteLine(estimate.Describe(outPath));
            var written = TraceRun.Writing(p, outPath, cancel, progress =>
            {
                var provenance = TraceCommands.Provenance(p,
                    ("joules.synth.seed", options.Seed.ToString(CultureInfo.InvariantCulture)),
                    ("joules.synth.lengths", lengthModel.Describe()),
                    ("joules.synth.fitted_to", profile?.Describe() ?? "none"));
                progress.Begin($"generating {Path.GetFileName(outPath)}", estimate.Requests);
                using var w = CanonicalTraceWriter.Create(outPath, provenance, options.Model is null ? OptionalColumns.None : OptionalColumns.Model, cancel);
                var batch = new TraceRequest[8192];
                int k;
                while ((k = synth.Fill(batch)) > 0)
                {
                    w.Write(batch.AsSpan(0, k));
                    progress.Report(w.Count);
                }
                if (w.Count == 0)
                    throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                        $"no request arrives within {d:0.###} s at {r:0.######} req/s; give a longer --duration or a higher --rate. Nothing was written"));
                progress.Begin($"writing {Path.GetFileName(outPath)}", null);
                w.Complete();
                progress.End();
                return w.Count;
            });
            var ci = CultureInfo.InvariantCulture;
            o.WriteLine(string.Create(ci,
                $"arrivals {process.ToString().ToLowerInvariant()}{(process == ArrivalProcess.Gamma ? $" (CV {options.Cv:F3})" : "")} at {r:F3} req/s{(options.DiurnalAmplitude > 0 ? $", diurnal ±{options.DiurnalAmplitude:P0} peaking {options.DiurnalPeakHour:F1}h UTC" : "")}, seed {options.Seed}"));
            o.WriteLine($"lengths  {lengthModel.Describe()}");
            o.WriteLine($"wrote {written:N0} requests to {outPath}");
            return Task.FromResult(0);
        });
        return cmd;
    }

    private static double Duration(string text)
    {
        if (!TraceDuration.TryParseSeconds(text, out var s) || !(s > 0))
            throw new ArgumentException($"--duration: '{text}' is not a positive duration (e.g. 90s, 5m, 1h, 7d)");
        return s;
    }
}
