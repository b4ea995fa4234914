using Joules.Traces;

namespace Joules.Traces.Tests;

/// <summary>Locates the shared real traces and makes scratch directories.</summary>
internal static class TestData
{
    public static string RepoRoot => Joules.Tests.RepoPaths.Root;

    public static string Shared(string name) => Joules.Tests.RepoPaths.Shared("traces", name);

    public static string AzureConv => Shared("azure2023_AzureLLMInferenceTrace_conv.csv");
    public static string AzureCode => Shared("azure2023_AzureLLMInferenceTrace_code.csv");
    public static string Vidur => Shared("vidur_splitwise_conv.csv");
    public static string MooncakeSynthetic => Shared("mooncake_synthetic_trace.jsonl");
    public static string MooncakeConversation => Shared("mooncake_conversation_trace.jsonl");

    public static string TempDir()
    {
        var d = Path.Combine(Path.GetTempPath(), "joules-traces-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(d);
        return d;
    }

    public static string Write(string dir, string name, string content)
    {
        var p = Path.Combine(dir, name);
        File.WriteAllText(p, content);
        return p;
    }

    /// <summary>Sorted trace from gaps and lengths, the shape property tests generate.</summary>
    public static TraceRequest[] Build((int Gap, int In, int Out)[] rows, long start = 1_700_000_000_000_000)
    {
        var t = start;
        var result = new TraceRequest[rows.Length];
        for (var i = 0; i < rows.Length; i++)
        {
            t += Math.Abs((long)rows[i].Gap);
            result[i] = new TraceRequest(i, t, Math.Abs(rows[i].In % 100_000), Math.Abs(rows[i].Out % 10_000), SessionId: i % 3 == 0 ? $"s{i % 7}" : null);
        }
        return result;
    }
}
