using System.CommandLine;
using System.Globalization;
using Joules.Traces;
using Joules.Traces.Canonical;
using Joules.Traces.Import;
using Joules.Traces.Synthesis;

namespace Joules.Cli.Commands;

/// <summary>`joules trace synth`: seeded, streaming synthetic traces, optionally fitted to a real one with --like.</summary>
internal static class TraceSynthCommand
{
    public static Command Create()
    {
        var output = TraceCommands.OutputOption("Canonical trace to write (.parquet or .csv); written as it is generated, so memory stays bounded");
        var like = new Option<FileInfo?>("--like") { Description = "Fit to this trace (any supported format): its mean rate, inter-arrival CV (gamma arrivals), start time, duration and token lengths" };
        var requests = new Option<long?>("--requests", "-n") { Description = "Number of requests to generate (with --duration and no --rate, the rate is requests/duration)" };
        var duration = new Option<string?>("--duration", "-d") { Description = "Length of the trace: 300s, 5m, 1h, 7d (default with --like: the source's duration)" };
        var rate = new Option<double?>("--rate", "-r") { Description = "Mean arrival rate, requests/s (the daily mean with --diurnal; default with --like: the source's)" };
        var arrival = new Option<ArrivalProcess?>("--arrival") { Description = "Inter-arrival process: poisson (exponential gaps) or gamma (gaps with CV --cv); default gamma with the source's CV under --like, else poisson" };
        var cv = new Option<double?>("--cv") { Description = "Coefficient of variation of gamma gaps: >1 bursty, 1 Poisson-like, <1 regular (default with --like: the source's)" };
        var diurnal = new Option<double>("--diurnal") { Description = "Daily rate swing A in [0,1): rate·(1 + A·cos(2π(hour − peak)/24)); 0 (default) is flat", DefaultValueFactory = _ => 0 };
        var peak = new Option<double>("--diurnal-peak") { Description = "Hour of day (UTC) at which the diurnal rate peaks", DefaultValueFactory = _ => 14 };
        var lengths = new Option<string>("--lengths") { Description = "With --like: resample (draw real (input, output) pairs, keeping their correlation) or lognormal (fitted independently)", DefaultValueFactory = _ => "resample" };
        var inMean = new Option<double>("--input-mean") { Description = "Without --like: mean input tokens (log-normal)", DefaultValueFactory = _ => 1024 };
        var inCv = new Option<double>("--input-cv") { Description = "Without --like: CV of input tokens", DefaultValueFactory = _ => 1.0 };
        var outMean = new Option<double>("--output-mean") { Description = "Without --like: mean output tokens (log-normal)", DefaultValueFactory = _ => 256 };
        var outCv = new Option<double>("--output-cv") { Description = "Without --like: CV of output tokens", DefaultValueFactory = _ => 1.0 };
        var start = new Option<string?>("--start") { Description = "Date-time of the trace start (default: the source's first arrival with --like, else 2024-01-01T00:00:00Z)" };
        var seed = new Option<int>("--seed", "-s") { Description = "Random seed: the same options and seed give the same trace", DefaultValueFactory = _ => 1 };
        var model = new Option<string?>("--model") { Description = "Model name to stamp on every request" };
        var cmd = new Command("synth",
            "Generate a synthetic trace: Poisson or gamma arrivals, optionally on a diurnal rate curve, with token lengths resampled from or fitted to a real trace (--like) or log-normal. " +
            "Streams to the output in batches; 30 million requests need no more memory than 3,000.");
        foreach (var o in new Option[] { output, like, requests, duration, rate, arrival, cv, diurnal, peak, lengths, inMean, inCv, outMean, outCv, start, seed, model })
            cmd.Options.Add(o);
        cmd.SetAction(p =>
        {
            var o = p.InvocationConfiguration.Output;
            TraceProfile? profile = null;
            if (p.GetValue(like) is { } likeFile)
            {
                profile = TraceProfile.Fit(likeFile.Name, TraceFile.Import(likeFile.FullName).Requests);
                o.WriteLine($"fitted to {profile.Describe()}");
            }
            var n = p.GetValue(requests);
            double? d = p.GetValue(duration) is { } ds ? TraceDuration.ParseSeconds(ds) : null;
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
            var outPath = p.GetValue(output)!.FullName;
            var expected = n ?? (long)Math.Round(r * (d ?? 0));
            var written = TraceProgress.Run(p, "generating", expected, report =>
            {
                var provenance = TraceCommands.Provenance(p,
                    ("joules.synth.seed", options.Seed.ToString(CultureInfo.InvariantCulture)),
                    ("joules.synth.lengths", lengthModel.Describe()),
                    ("joules.synth.fitted_to", profile?.Describe() ?? "none"));
                using var w = CanonicalTraceWriter.Create(outPath, provenance, options.Model is null ? OptionalColumns.None : OptionalColumns.Model);
                var batch = new TraceRequest[8192];
                int k;
                while ((k = synth.Fill(batch)) > 0)
                {
                    w.Write(batch.AsSpan(0, k));
                    report(w.Count);
                }
                w.Complete();
                return w.Count;
            });
            var ci = CultureInfo.InvariantCulture;
            o.WriteLine(string.Create(ci,
                $"arrivals {process.ToString().ToLowerInvariant()}{(process == ArrivalProcess.Gamma ? $" (CV {options.Cv:F3})" : "")} at {r:F3} req/s{(options.DiurnalAmplitude > 0 ? $", diurnal ±{options.DiurnalAmplitude:P0} peaking {options.DiurnalPeakHour:F1}h UTC" : "")}, seed {options.Seed}"));
            o.WriteLine($"lengths  {lengthModel.Describe()}");
            o.WriteLine($"wrote {written:N0} requests to {outPath}");
            return 0;
        });
        return cmd;
    }
}
