using System.Net;
using System.Net.Sockets;
using Joules.Simulation;
using Joules.Serving;
using Microsoft.AspNetCore.TestHost;
using S = Joules.Simulation.Settings.SimulateSettings;

namespace Joules.Serving.Tests;

/// <summary>`joules serve --engine sim` hosts for tests: in memory (TestServer) or on a real loopback port.</summary>
internal static class TestServers
{
    public static string CalibrationRoot => Joules.Tests.RepoPaths.Calibration;

    /// <summary>A sim-engine spec with the shipped H200 profile; <paramref name="change"/> adds settings.</summary>
    public static ScenarioSpec Spec(Action<ScenarioSpec>? change = null)
    {
        var spec = new ScenarioSpec().With(ServeSettings.Engine, ServeSettings.Sim).With(ServeSettings.Host, "127.0.0.1");
        change?.Invoke(spec);
        return spec;
    }

    public static async Task<(ServeHost Host, HttpClient Client)> InMemory(Action<ScenarioSpec>? change = null)
    {
        var host = ServeHost.Create(Spec(change), CalibrationRoot, b => b.WebHost.UseTestServer());
        await host.StartAsync();
        return (host, host.App.GetTestClient());
    }

    public static async Task<(ServeHost Host, Uri Url)> Loopback(Action<ScenarioSpec>? change = null)
    {
        var port = FreePort();
        var host = ServeHost.Create(Spec(s => { s.With(ServeSettings.Port, port); change?.Invoke(s); }), CalibrationRoot);
        await host.StartAsync();
        return (host, new Uri($"http://127.0.0.1:{port}/"));
    }

    public static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        var port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    public static ScenarioSpec SmallKv(this ScenarioSpec s, int blocks) => s.With(S.KvBlocks, blocks);
}
