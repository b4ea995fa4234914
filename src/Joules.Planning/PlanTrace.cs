using System.Security.Cryptography;
using Joules.Traces;
using Joules.Traces.Canonical;
using Joules.Traces.Synthesis;

namespace Joules.Planning;

/// <summary>The requests a plan replays: the trace file itself, or a synthetic trace of a given length fitted to it (`--like`), the same on every machine for the same seed.</summary>
public static class PlanTrace
{
    public static string Sha256(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"trace file '{path}' does not exist", path);
        using var s = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(s));
    }

    /// <summary>Loads the plan's requests; refuses a trace whose contents changed since the work list was made.</summary>
    public static TraceRequest[] Load(PlanHeader header, CancellationToken cancel = default)
    {
        var hash = Sha256(header.Trace);
        if (!string.Equals(hash, header.TraceSha256, StringComparison.OrdinalIgnoreCase))
            throw new InvalidDataException($"trace '{header.Trace}' has changed since the work list was made (sha256 {hash[..12]}…, the work list says {header.TraceSha256[..Math.Min(12, header.TraceSha256.Length)]}…)");
        var source = TraceSource.Open(header.Trace, null, null, cancel).Read(cancel).ToArray();
        if (source.Length == 0) throw new InvalidDataException($"trace '{header.Trace}' holds no request");
        if (header.DurationSeconds is not { } duration) return source;
        var profile = TraceProfile.Fit(Path.GetFileName(header.Trace), source);
        var options = new SynthesisOptions
        {
            DurationSeconds = duration,
            Rate = profile.Rate,
            Arrival = ArrivalProcess.Gamma,
            Cv = profile.InterarrivalCv > 0 ? profile.InterarrivalCv : 1,
            StartMicros = profile.StartMicros,
            Seed = header.Seed,
        };
        var synth = new TraceSynthesizer(options, profile.Lengths("resample"));
        var list = new List<TraceRequest>();
        var batch = new TraceRequest[8192];
        int k;
        while ((k = synth.Fill(batch)) > 0) list.AddRange(batch.AsSpan(0, k));
        if (list.Count == 0) throw new ArgumentException($"no request arrives within {duration} s at the rate of '{header.Trace}'; give a longer --duration");
        return list.ToArray();
    }
}
