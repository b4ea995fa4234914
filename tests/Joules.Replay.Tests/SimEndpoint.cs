using System.Net;
using System.Net.Sockets;
using Joules.Serving;
using Joules.Simulation;

namespace Joules.Replay.Tests;

/// <summary>A `joules serve --engine sim` on a loopback port (the shipped H200 profile prices its iterations).</summary>
internal sealed class SimEndpoint : IAsyncDisposable
{
    private SimEndpoint(ServeHost host, Uri url) { Host = host; Url = url; }

    public ServeHost Host { get; }
    public Uri Url { get; }

    public static async Task<SimEndpoint> Start(Action<ScenarioSpec>? change = null)
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        var port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        var spec = new ScenarioSpec().With(ServeSettings.Engine, ServeSettings.Sim).With(ServeSettings.Host, "127.0.0.1").With(ServeSettings.Port, port);
        change?.Invoke(spec);
        var host = ServeHost.Create(spec, Joules.Tests.RepoPaths.Calibration);
        await host.StartAsync();
        return new SimEndpoint(host, new Uri($"http://127.0.0.1:{port}/"));
    }

    public ValueTask DisposeAsync() => Host.DisposeAsync();
}
