using System.Diagnostics;
using System.Security.Claims;
using System.Text.Json;
using Microsoft.AspNetCore.SignalR;

namespace RtcAgent.AspNetHub;

/// <summary>
/// rtc-agent's room contract, version 1 with the "members" feature (docs/room-contract.md). Client →
/// hub: Join, Leave, Signal, Relay, Members. Hub → client: PeerJoined, PeerLeft, Signal, Relayed. The hub stamps every sender, nothing
/// crosses rooms, and `to` must be a member of the same room.
/// </summary>
public sealed class RoomHub(RoomRegistry registry, RoomHubLimits limits, ILogger<RoomHub> log) : Hub
{
    private static readonly object FallbackPeerIdKey = new();

    /// <param name="hello">Any value: validated here so bad fields get RTC_ERR_BAD_REQUEST naming the field.</param>
    public async Task<object?> Join(string room, object? hello)
    {
        RoomContract.ValidateRoomName(room);
        var h = RoomContract.ValidateHello(Wire.In(hello));
        Wire.NoteJoin(Context.ConnectionId, hello);
        var user = HubUser.From(Context.User);
        if (user is not null && !user.MayJoin(room))
            throw RtcErrors.Error(RtcErrors.Forbidden, $"not allowed to join room '{room}'");

        var candidate = h.AgentKey is null ? FallbackPeerId() : RoomContract.DerivePeerId(user?.UserId, h.AgentKey);
        var outcome = registry.Join(Context.ConnectionId, room, candidate, limits, (peerId, joinedAt) => new Participant(
            peerId,
            user?.Name ?? h.Name ?? $"peer-{peerId[..6]}",
            user?.UserId,
            h.Capabilities,
            h.Meta,
            joinedAt ?? DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()));
        var self = outcome.Self;

        if (outcome.ReplacedConnectionId is { } old)
        {
            log.LogDebug("{PeerId} in {Room} moved to a new connection", self.PeerId, room);
            await Clients.Client(old).SendAsync("PeerLeft", room, self.PeerId, "replaced");
        }
        await Clients.Clients(outcome.Others.Select(m => m.ConnectionId).ToList()).SendAsync("PeerJoined", room, Wire.Out(self));
        log.LogDebug("{PeerId} joined {Room} ({Members} members)", self.PeerId, room, outcome.Others.Count + 1);
        return Wire.Out(new JoinResult(room, self, outcome.Others.Select(m => m.Participant).ToList(), limits.IceServers, limits.ToInfo(), RoomContract.ContractVersion, RoomContract.Features));
    }

    /// <summary>
    /// Contract feature "members": who the hub lists in the room now, the caller excluded. Clients
    /// reconcile with it (a peer their heartbeat gave up on, a PeerJoined they missed).
    /// </summary>
    public object? Members(string room)
    {
        var from = SenderIn(room);
        return Wire.Out(new MembersResult(room, registry.ParticipantsIn(room, from)));
    }

    /// <summary>Idempotent: leaving a room one is not in is not an error.</summary>
    public async Task Leave(string room)
    {
        RoomContract.ValidateRoomName(room);
        if (registry.Leave(Context.ConnectionId, room) is { } departure) await Announce(departure, "left");
    }

    /// <param name="signal">Opaque to the hub; must be an object.</param>
    public async Task Signal(string room, string to, object? signal)
    {
        var from = SenderIn(room);
        var target = RecipientIn(room, to, from);
        var value = signal is byte[] ? default : Wire.In(signal);
        if (value.ValueKind != JsonValueKind.Object)
            throw RtcErrors.Error(RtcErrors.BadRequest, $"Signal's signal must be an object, got {Wire.Describe(signal)}");
        await Clients.Client(target).SendAsync("Signal", room, from, Wire.Out(value));
    }

    /// <summary>
    /// The fallback data path: to one member, or to every other member when <paramref name="to"/> is
    /// null. Awaiting the send holds this sender's next invocation until the recipients' transports
    /// accepted the message (SignalR runs one invocation per connection at a time): backpressure, in
    /// order, nothing dropped. The payload is bytes: base64 text from and to JSON clients, bin from
    /// and to MessagePack ones (ASP.NET Core writes a byte[] in each recipient's form).
    /// </summary>
    public async Task Relay(string room, string? to, object? payload)
    {
        var from = SenderIn(room);
        IReadOnlyList<string> targets = to is null ? registry.ConnectionsIn(room, from) : [RecipientIn(room, to, from)];
        var wire = Wire.RelayPayload(payload, targets);
        await Clients.Clients(targets).SendAsync("Relayed", room, from, wire);
    }

    public override async Task OnDisconnectedAsync(Exception? exception)
    {
        // Memberships that moved to a newer connection (same peer id) are not bound to this one any more.
        foreach (var departure in registry.Disconnected(Context.ConnectionId)) await Announce(departure, "disconnected");
        Wire.Forget(Context.ConnectionId);
        await base.OnDisconnectedAsync(exception);
    }

    private Task Announce(RoomRegistry.Departure d, string reason)
    {
        log.LogDebug("{PeerId} left {Room} ({Reason})", d.PeerId, d.Room, reason);
        return Clients.Clients(d.Remaining).SendAsync("PeerLeft", d.Room, d.PeerId, reason);
    }

    /// <summary>The caller's peer id in the room: never taken from the client.</summary>
    private string SenderIn(string room)
    {
        RoomContract.ValidateRoomName(room);
        return registry.PeerIdOf(Context.ConnectionId, room)
            ?? throw RtcErrors.Error(RtcErrors.NotInRoom, $"not a member of room '{room}'; call Join first");
    }

    private string RecipientIn(string room, string? to, string from)
    {
        if (to is null) throw RtcErrors.Error(RtcErrors.BadRequest, "'to' must be a peer id string, got null");
        var connectionId = to == from ? null : registry.ConnectionOf(room, to);
        return connectionId
            ?? throw RtcErrors.Error(RtcErrors.PeerNotInRoom, $"peer '{(to.Length > 64 ? to[..64] : to)}' is not a member of room '{room}'");
    }

    /// <summary>A connection without agentKey keeps one random peer id for its whole life.</summary>
    private string FallbackPeerId()
    {
        if (Context.Items.TryGetValue(FallbackPeerIdKey, out var value) && value is string id) return id;
        id = RoomContract.RandomPeerId();
        Context.Items[FallbackPeerIdKey] = id;
        return id;
    }
}

/// <summary>
/// Who the connection belongs to when the app authenticates (any scheme, e.g. JwtBearer): the
/// <c>sub</c> claim is the user id, <c>name</c> the display name, <c>rooms</c> limits the rooms.
/// </summary>
public sealed record HubUser(string UserId, string Name, IReadOnlySet<string>? Rooms)
{
    public static HubUser? From(ClaimsPrincipal? principal)
    {
        if (principal?.Identity?.IsAuthenticated != true) return null;
        // JwtBearer maps `sub` to NameIdentifier and `name` to Name unless MapInboundClaims is off.
        var userId = principal.FindFirst("sub")?.Value ?? principal.FindFirst(ClaimTypes.NameIdentifier)?.Value;
        if (string.IsNullOrEmpty(userId)) return null;
        var name = principal.FindFirst("name")?.Value ?? principal.FindFirst(ClaimTypes.Name)?.Value;
        // `rooms`: a JSON array (one claim per entry) or a string of names separated by spaces or commas;
        // `*` allows any room; no claim at all allows any room.
        var roomClaims = principal.FindAll("rooms").ToList();
        HashSet<string>? rooms = null;
        if (roomClaims.Count > 0)
        {
            var names = roomClaims.SelectMany(c => c.Value.Split([' ', ',', '\t', '\n', '\r'], StringSplitOptions.RemoveEmptyEntries));
            rooms = new HashSet<string>(names, StringComparer.Ordinal);
            if (rooms.Contains("*")) rooms = null;
        }
        return new HubUser(userId, string.IsNullOrEmpty(name) ? userId : name, rooms);
    }

    public bool MayJoin(string room) => Rooms is null || Rooms.Contains(room);
}

/// <summary>
/// Bounds each connection to <see cref="RoomHubLimits.MessagesPerSecond"/> hub invocations per
/// second (token bucket, burst <see cref="RoomHubLimits.MessageBurst"/>): RTC_ERR_RATE_LIMITED.
/// </summary>
public sealed class RateLimitFilter(RoomHubLimits limits) : IHubFilter
{
    private sealed class Bucket(double tokens, long stamp)
    {
        public double Tokens = tokens;
        public long Stamp = stamp;
    }

    public ValueTask<object?> InvokeMethodAsync(HubInvocationContext invocation, Func<HubInvocationContext, ValueTask<object?>> next)
    {
        var items = invocation.Context.Items;
        var now = Stopwatch.GetTimestamp();
        if (!items.TryGetValue(typeof(Bucket), out var value) || value is not Bucket bucket)
            items[typeof(Bucket)] = bucket = new Bucket(limits.MessageBurst, now);
        lock (bucket)
        {
            bucket.Tokens = Math.Min(limits.MessageBurst, bucket.Tokens + Stopwatch.GetElapsedTime(bucket.Stamp, now).TotalSeconds * limits.MessagesPerSecond);
            bucket.Stamp = now;
            if (bucket.Tokens < 1)
                throw RtcErrors.Error(RtcErrors.RateLimited, $"more than {limits.MessagesPerSecond} messages per second (burst {limits.MessageBurst}); slow down");
            bucket.Tokens -= 1;
        }
        return next(invocation);
    }
}
