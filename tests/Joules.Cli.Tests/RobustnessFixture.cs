using System.Globalization;
using System.Text;
using Joules.Traces;
using Joules.Traces.Canonical;
using Joules.Traces.Synthesis;

namespace Joules.Cli.Tests;

/// <summary>Inputs the robustness tests share: a small good trace, and inputs big enough that a command is still running when it is interrupted.</summary>
public sealed class RobustnessFixture : IDisposable
{
    public string Dir { get; } = Path.Combine(Path.GetTempPath(), "joules-robustness", Guid.NewGuid().ToString("N"));

    /// <summary>The shipped 5-minute trace (1,612 requests).</summary>
    public string Good => Path.Combine(Joules.Tests.RepoPaths.Root, "traces", "azure-conv-5min.parquet");

    /// <summary>4 M requests of canonical Parquet (about 50 MB): the trace commands read it fast, so it must be big for a cancel to land mid-run.</summary>
    public string BigParquet { get; }

    /// <summary>400,000 rows of Azure-layout CSV (about 16 MB).</summary>
    public string BigCsv { get; }

    public RobustnessFixture()
    {
        Directory.CreateDirectory(Dir);
        BigParquet = Path.Combine(Dir, "big.parquet");
        var synth = new TraceSynthesizer(new SynthesisOptions { Requests = 4_000_000, Rate = 50, Seed = 3 }, new LogNormalLengths(6.5, 1, 5, 1));
        CanonicalTraceWriter.Write(BigParquet, synth.Generate(), columns: OptionalColumns.None);
        BigCsv = Path.Combine(Dir, "big.csv");
        var sb = new StringBuilder("TIMESTAMP,ContextTokens,GeneratedTokens\n");
        var t = new DateTime(2023, 11, 16, 18, 0, 0, DateTimeKind.Utc);
        for (var i = 0; i < 400_000; i++)
            sb.Append(t.AddMilliseconds(i * 9.5).ToString("yyyy-MM-dd HH:mm:ss.fffffff", CultureInfo.InvariantCulture)).Append(',').Append(100 + i % 4000).Append(',').Append(1 + i % 700).Append('\n');
        File.WriteAllText(BigCsv, sb.ToString());
    }

    public void Dispose()
    {
        try { Directory.Delete(Dir, true); } catch (IOException) { }
    }
}
