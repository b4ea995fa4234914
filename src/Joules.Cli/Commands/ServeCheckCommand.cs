using System.CommandLine;
using Joules.Calibration.Engine;
using Joules.Cuda;
using Joules.Profiles;

namespace Joules.Cli.Commands;

/// <summary>`joules engine serve-check`: the serving engine's greedy tokens under other block ids, graphs and chunking (wiring only).</summary>
public static class ServeCheckCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Model card name or JSON path", DefaultValueFactory = _ => "llama-3.1-8b" };
        var device = CliOptions.Whole("--device", "CUDA device ordinal", "a GPU index", v => v >= 0, 0);
        var cmd = new Command("serve-check",
            "Check the serving engine (`joules serve --engine gpu`) on the GPU: one prompt generated again, with other KV block ids, eagerly instead of through " +
            "CUDA graphs and prefilled in chunks beside a batch mate; the leading greedy tokens must agree");
        cmd.Options.Add(model);
        cmd.Options.Add(device);
        cmd.SetAction(p =>
        {
            var o = p.InvocationConfiguration.Output;
            if (!Cu.IsAvailable(out var why)) { p.InvocationConfiguration.Error.WriteLine($"no GPU: {why}"); return 2; }
            var results = ServingEngineCheck.Run(Catalog.Model(p.GetValue(model)!), p.GetValue(device), progress: r =>
                o.WriteLine($"{r.Name,-66} {r.Agreeing,3}/{r.Tokens} tokens agree{(r.FirstDifference >= 0 ? $" (first difference at {r.FirstDifference})" : "")}  {(r.Passed ? "ok" : "FAIL")}"));
            var failed = results.Count(r => !r.Passed);
            o.WriteLine(failed == 0 ? $"all {results.Count} serving checks passed" : $"{failed} of {results.Count} serving checks FAILED");
            return failed == 0 ? 0 : 1;
        });
        return cmd;
    }
}
