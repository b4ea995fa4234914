using Joules.Simulation;
using Joules.Traces;
using Joules.Traces.Import;

namespace Joules.Runs;

/// <summary>The requests a simulate job replays: a trace file in any layout the trace commands read, or an in-process Poisson trace.</summary>
public abstract class TraceInput
{
    /// <summary>How reports name the trace.</summary>
    public abstract string Description { get; }
    /// <summary>The file, when there is one (for provenance and for refusing to overwrite it).</summary>
    public virtual string? Path => null;
    /// <summary>Requests in the trace.</summary>
    public abstract long Count { get; }
    /// <summary>Seconds from the first to the last arrival.</summary>
    public abstract double SpanSeconds { get; }
    /// <summary>Prompt plus output tokens over the whole trace (for sizing outputs of offline runs).</summary>
    public abstract long TotalTokens { get; }
    /// <summary>Lines to print about what the import did (warnings), if any.</summary>
    public virtual IEnumerable<string> Notes => [];
    /// <summary>A fresh enumeration of the requests, in arrival order.</summary>
    public abstract IEnumerable<TraceRequest> Read(CancellationToken cancel);

    /// <summary>A trace file of any supported layout, read through <see cref="TraceSource"/>.</summary>
    public static TraceInput File(string path, TraceImportOptions? options = null, CancellationToken cancel = default) => new FileInput(path, options, cancel);

    /// <summary>An in-process Poisson trace.</summary>
    public static TraceInput Synthetic(long count, double ratePerSecond, int seed) => new SyntheticInput(count, ratePerSecond, seed);

    private sealed class FileInput : TraceInput
    {
        private readonly TraceSource _source;
        private readonly double _span;
        private readonly long _tokens;

        public FileInput(string path, TraceImportOptions? options, CancellationToken cancel)
        {
            if (Directory.Exists(path)) throw new ArgumentException($"--trace: '{path}' is a folder, not a trace file");
            if (!System.IO.File.Exists(path)) throw new FileNotFoundException($"--trace: '{path}' does not exist", path);
            _source = TraceSource.Open(path, options, null, cancel);
            // One pass for the span and token total: cheap next to the simulation, and it checks the file end to end first.
            long first = long.MaxValue, last = long.MinValue, tokens = 0;
            foreach (var r in _source.Read(cancel))
            {
                first = Math.Min(first, r.ArrivalMicros);
                last = Math.Max(last, r.ArrivalMicros);
                tokens += (long)r.InputTokens + r.OutputTokens;
            }
            _span = last > first ? (last - first) / 1e6 : 0;
            _tokens = tokens;
        }

        public override string Description => _source.Path;
        public override string? Path => _source.Path;
        public override long Count => _source.Count;
        public override double SpanSeconds => _span;
        public override long TotalTokens => _tokens;
        // A canonical trace needs no word about its import; other layouts say what was read and skipped.
        public override IEnumerable<string> Notes => _source.Report.Lines().Skip(_source.Report.Format == TraceFormat.Canonical ? 1 : 0);
        public override IEnumerable<TraceRequest> Read(CancellationToken cancel) => _source.Read(cancel);
    }

    private sealed class SyntheticInput(long count, double rate, int seed) : TraceInput
    {
        private readonly long _count = count >= 1 ? count : throw new ArgumentException($"--synthetic: needs a positive request count, got {count}");
        private readonly double _rate = rate > 0 && double.IsFinite(rate) ? rate : throw new ArgumentException($"--rate: must be a positive number of requests per second, got {rate}");

        public override string Description => $"synthetic ({_count:N0} requests at {_rate} req/s, seed {seed})";
        public override long Count => _count;
        public override double SpanSeconds => _count / _rate;
        // The synthetic generator's medians (see SyntheticTrace): a sizing estimate only.
        public override long TotalTokens => _count * 1200;
        public override IEnumerable<TraceRequest> Read(CancellationToken cancel) => SyntheticTrace.Poisson(seed, _count, _rate);
    }
}
