using System.CommandLine;
using Joules.Serving;

namespace Joules.Cli.Commands;

/// <summary>The `joules serve` command: wiring only (the server lives in Joules.Serving).</summary>
public static class ServeCommand
{
    private static readonly SettingOptions Settings = new(ServeSettings.All);

    public static Command Create()
    {
        var cmd = new Command("serve",
            "OpenAI-compatible HTTP server (POST /v1/completions, GET /v1/models, /health, /metrics) driven by the simulator's scheduler: " +
            "--engine gpu runs the calibration transformer on a GPU, --engine sim waits what the cost model prices each iteration at. " +
            "Ctrl-C or SIGTERM drains: new requests get 503, running ones may finish within --drain-timeout, then the rest are aborted");
        foreach (var o in Settings.All) cmd.Options.Add(o);
        cmd.SetAction(async (p, cancel) =>
        {
            var stdout = p.InvocationConfiguration.Output;
            var spec = Settings.Spec(p);
            await using var host = ServeHost.Create(spec, SimulateCommands.FindCalibrationRoot());
            var i = host.Info;
            await host.StartAsync(CancellationToken.None);
            stdout.WriteLine($"joules serve: {i.Engine} engine, {i.ModelName} ({i.Model}) on {i.Device}{(i.DeviceUuid.Length > 0 ? $" {i.DeviceUuid}" : "")}, " +
                             $"{i.KvBlocks:N0} KV blocks of {i.Scheduler.BlockSize} tokens, max-num-seqs {i.Scheduler.MaxNumSeqs}, " +
                             $"max-num-batched-tokens {i.Scheduler.MaxNumBatchedTokens}, max-model-len {i.Scheduler.MaxModelLen}");
            if (i.Kernels is { Count: > 0 })
                stdout.WriteLine($"kernels: {string.Join("; ", i.KernelLabels().Select(l => $"{l.Key[Joules.Serving.Http.ServeInfo.KernelLabelPrefix.Length..]} {l.Value}"))}");
            if (host.ProfileWarning is { } shadow) p.InvocationConfiguration.Error.WriteLine($"warning: {shadow}");
            if (host.Predictor is { } c) stdout.WriteLine($"iterations {(i.Engine == "sim" ? "priced" : "predicted")} by {c}");
            stdout.WriteLine($"listening on {string.Join(", ", host.Urls)}");
            stdout.Flush();
            try { await Task.Delay(Timeout.Infinite, cancel); }
            catch (OperationCanceledException) { }
            stdout.WriteLine($"draining {host.Loop.Resident} requests...");
            try { await host.StopAsync(); }
            catch (IOException e)
            {
                // After Ctrl-C the command line takes any failure for the interruption itself; this one must be seen.
                p.InvocationConfiguration.Error.WriteLine($"error: {e.Message}");
                return 1;
            }
            var n = host.Loop.Snapshot;
            stdout.WriteLine($"stopped: {n.RequestsFinished:N0} requests served, {n.RequestsAborted:N0} aborted, {n.Iterations:N0} iterations, " +
                             $"host time {(n.HostIterations > 0 ? n.HostSeconds / n.HostIterations * 1e3 : 0):F3} ms per iteration");
            return 0;
        });
        return cmd;
    }
}
