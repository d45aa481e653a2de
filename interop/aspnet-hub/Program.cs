// A minimal ASP.NET Core SignalR hub for rtc-agent agents, at /hub.
//   dotnet bin/Release/net10.0/RtcAgent.AspNetHub.dll --urls http://127.0.0.1:0
// The first line on stdout is the hub URL (e.g. http://127.0.0.1:41234/hub), like `rtc-agent hub`;
// logs go to stderr. Settings: --RoomHub:MaxPeersPerRoom 64, --RoomHub:MaxRoomsPerConnection 32,
// --RoomHub:MaxMessageBytes 65536, --RoomHub:MessagesPerSecond 2000, --RoomHub:MessageBurst 4000,
// --StopWhenStdinCloses true (exit when the parent process goes away).
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.SignalR;
using RtcAgent.AspNetHub;

var builder = WebApplication.CreateBuilder(args);
builder.Logging.ClearProviders();
builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);

var limits = builder.Configuration.GetSection("RoomHub").Get<RoomHubLimits>() ?? new RoomHubLimits();
builder.Services.AddSingleton(limits);
builder.Services.AddSingleton<RoomRegistry>();
builder.Services.AddSingleton<RateLimitFilter>();
var signalR = builder.Services.AddSignalR(o =>
{
    // A larger message closes the connection (ASP.NET Core's behaviour); clients chunk below it.
    o.MaximumReceiveMessageSize = limits.MaxMessageBytes;
    o.AddFilter<RateLimitFilter>();
});
// Each client picks JSON or MessagePack in its handshake; Wire.cs keeps the contract the same in both.
// `--JsonOnly true` leaves MessagePack out, as most ASP.NET Core hubs have it (the agents' fallback).
if (!builder.Configuration.GetValue<bool>("JsonOnly")) signalR.AddMessagePackProtocol();

var app = builder.Build();
// Stateful reconnect: the agent's client asks for it (withStatefulReconnect) to survive short drops.
app.MapHub<RoomHub>("/hub", o => o.AllowStatefulReconnects = true);

await app.StartAsync();
// With port 0 the server features hold the port Kestrel actually bound.
var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
Console.Out.WriteLine($"{address.TrimEnd('/')}/hub");

if (app.Configuration.GetValue<bool>("StopWhenStdinCloses"))
{
    _ = Task.Run(async () =>
    {
        using var stdin = Console.OpenStandardInput();
        var buffer = new byte[256];
        while (await stdin.ReadAsync(buffer) > 0) { }
        app.Lifetime.StopApplication();
    });
}

await app.WaitForShutdownAsync();
