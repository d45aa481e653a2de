namespace RtcAgent.AspNetHub;

/// <summary>
/// The membership table: (room, peer id) → connection id, and per connection room → peer id.
/// Register it as a singleton. One lock guards both maps; callers send to clients outside it.
/// (Several hub servers behind a backplane would need this table in shared storage instead.)
/// </summary>
public sealed class RoomRegistry
{
    public sealed record Member(Participant Participant, string ConnectionId);

    /// <param name="Others">Every other member of the room, to notify and to list in the JoinResult.</param>
    /// <param name="ReplacedConnectionId">The connection that held this peer id before (it gets PeerLeft "replaced").</param>
    public sealed record JoinOutcome(Participant Self, IReadOnlyList<Member> Others, string? ReplacedConnectionId);

    /// <param name="Remaining">Connection ids of the members still in the room, to notify.</param>
    public sealed record Departure(string Room, string PeerId, IReadOnlyList<string> Remaining);

    private readonly Lock _gate = new();
    private readonly Dictionary<string, Dictionary<string, Member>> _rooms = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Dictionary<string, string>> _connections = new(StringComparer.Ordinal);

    /// <summary>
    /// Adds or updates the caller's membership. A connection keeps the peer id it already has in the
    /// room; otherwise it becomes <paramref name="candidatePeerId"/>, taking the membership over from
    /// another connection that held it (the agent reconnected).
    /// </summary>
    /// <param name="build">Makes the participant from the final peer id and the first join time (null: now).</param>
    public JoinOutcome Join(string connectionId, string room, string candidatePeerId, RoomHubLimits limits, Func<string, long?, Participant> build)
    {
        lock (_gate)
        {
            _connections.TryGetValue(connectionId, out var mine);
            string? current = null;
            var alreadyIn = mine is not null && mine.TryGetValue(room, out current);
            if (!alreadyIn && mine is not null && mine.Count >= limits.MaxRoomsPerConnection)
                throw RtcErrors.Error(RtcErrors.TooManyRooms, $"a connection may be in at most {limits.MaxRoomsPerConnection} rooms");

            var peerId = current ?? candidatePeerId;
            _rooms.TryGetValue(room, out var members);
            Member? existing = null;
            members?.TryGetValue(peerId, out existing);
            var occupied = (members?.Count ?? 0) - (existing is null ? 0 : 1);
            if (occupied >= limits.MaxPeersPerRoom)
                throw RtcErrors.Error(RtcErrors.RoomFull, $"room '{room}' is full ({limits.MaxPeersPerRoom} members)");

            var self = build(peerId, existing?.Participant.JoinedAt);
            if (members is null) _rooms[room] = members = new(StringComparer.Ordinal);
            members[peerId] = new Member(self, connectionId);
            if (mine is null) _connections[connectionId] = mine = new(StringComparer.Ordinal);
            mine[room] = peerId;

            string? replaced = null;
            if (existing is not null && existing.ConnectionId != connectionId)
            {
                // The old connection can no longer send as this peer, and its disconnect removes nothing.
                replaced = existing.ConnectionId;
                ForgetRoom(replaced, room);
            }
            var others = members.Values.Where(m => m.Participant.PeerId != peerId).ToList();
            return new JoinOutcome(self, others, replaced);
        }
    }

    /// <summary>Removes the connection from the room; null when it was not a member (Leave is idempotent).</summary>
    public Departure? Leave(string connectionId, string room)
    {
        lock (_gate)
        {
            if (!_connections.TryGetValue(connectionId, out var mine) || !mine.TryGetValue(room, out var peerId)) return null;
            ForgetRoom(connectionId, room);
            return RemoveMember(room, peerId, connectionId);
        }
    }

    /// <summary>Drops every membership still bound to a connection that closed.</summary>
    public IReadOnlyList<Departure> Disconnected(string connectionId)
    {
        lock (_gate)
        {
            if (!_connections.Remove(connectionId, out var mine)) return [];
            var departures = new List<Departure>();
            foreach (var (room, peerId) in mine)
            {
                if (RemoveMember(room, peerId, connectionId) is { } departure) departures.Add(departure);
            }
            return departures;
        }
    }

    /// <summary>The caller's peer id in the room, as the hub knows it (null: not a member).</summary>
    public string? PeerIdOf(string connectionId, string room)
    {
        lock (_gate)
        {
            return _connections.TryGetValue(connectionId, out var mine) && mine.TryGetValue(room, out var peerId) ? peerId : null;
        }
    }

    /// <summary>The connection of member <paramref name="peerId"/> of this room (null: not a member).</summary>
    public string? ConnectionOf(string room, string peerId)
    {
        lock (_gate)
        {
            return _rooms.TryGetValue(room, out var members) && members.TryGetValue(peerId, out var member) ? member.ConnectionId : null;
        }
    }

    /// <summary>Every member of the room except <paramref name="exceptPeerId"/>, as peers see them.</summary>
    public IReadOnlyList<Participant> ParticipantsIn(string room, string exceptPeerId)
    {
        lock (_gate)
        {
            if (!_rooms.TryGetValue(room, out var members)) return [];
            return members.Values.Where(m => m.Participant.PeerId != exceptPeerId).Select(m => m.Participant).ToList();
        }
    }

    /// <summary>Connections of every member of the room except <paramref name="exceptPeerId"/>.</summary>
    public IReadOnlyList<string> ConnectionsIn(string room, string exceptPeerId)
    {
        lock (_gate)
        {
            if (!_rooms.TryGetValue(room, out var members)) return [];
            return members.Values.Where(m => m.Participant.PeerId != exceptPeerId).Select(m => m.ConnectionId).ToList();
        }
    }

    private void ForgetRoom(string connectionId, string room)
    {
        if (!_connections.TryGetValue(connectionId, out var rooms)) return;
        rooms.Remove(room);
        if (rooms.Count == 0) _connections.Remove(connectionId);
    }

    private Departure? RemoveMember(string room, string peerId, string connectionId)
    {
        if (!_rooms.TryGetValue(room, out var members) || !members.TryGetValue(peerId, out var member) || member.ConnectionId != connectionId) return null;
        members.Remove(peerId);
        if (members.Count == 0) _rooms.Remove(room);
        return new Departure(room, peerId, members.Values.Select(m => m.ConnectionId).ToList());
    }
}
