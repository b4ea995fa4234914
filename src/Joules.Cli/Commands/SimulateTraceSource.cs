using Joules.Traces;
using Joules.Traces.Canonical;

namespace Joules.Cli.Commands;

/// <summary>How `joules simulate` reads a trace: streamed through the canonical reader of Joules.Traces.</summary>
internal static class SimulateTraceSource
{
    public static IEnumerable<TraceRequest> Open(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"trace file '{path}' does not exist", path);
        return CanonicalTraceReader.Read(path);
    }
}
