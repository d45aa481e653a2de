// The room contract, version 1 (docs/room-contract.md): wire types, error codes, validation and
// peer-id derivation. Mirrors src/protocol/room-contract.ts and src/protocol/peer-id.ts.
using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.SignalR;

namespace RtcAgent.AspNetHub;

/// <summary>A room member as peers see it. SignalR's JSON protocol writes the names in camelCase.</summary>
/// <param name="Capabilities">The normalised hello capabilities (a JSON object; <c>native</c> is always a boolean).</param>
/// <param name="JoinedAt">Milliseconds since the Unix epoch, hub clock.</param>
public sealed record Participant(
    string PeerId,
    string Name,
    string? UserId,
    JsonElement Capabilities,
    IReadOnlyDictionary<string, string> Meta,
    long JoinedAt);

public sealed record IceServer(
    string[] Urls,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Username = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Credential = null);

public sealed record HubLimitsInfo(int MaxMessageBytes, int MaxPeersPerRoom, int MaxRoomsPerConnection, int MessagesPerSecond);

public sealed record JoinResult(
    string Room,
    Participant Self,
    IReadOnlyList<Participant> Participants,
    IReadOnlyList<IceServer> IceServers,
    HubLimitsInfo Limits,
    int ContractVersion,
    IReadOnlyList<string> Features);

/// <summary>Result of Members: the room's members as the hub lists them now, the caller excluded.</summary>
public sealed record MembersResult(string Room, IReadOnlyList<Participant> Participants);

/// <summary>The hub's bounds; bound from the "RoomHub" configuration section.</summary>
public sealed class RoomHubLimits
{
    public int MaxMessageBytes { get; set; } = 64 * 1024;
    public int MaxPeersPerRoom { get; set; } = 64;
    public int MaxRoomsPerConnection { get; set; } = 32;
    public int MessagesPerSecond { get; set; } = 2000;
    public int MessageBurst { get; set; } = 4000;
    public List<IceServer> IceServers { get; set; } = [];

    public HubLimitsInfo ToInfo() => new(MaxMessageBytes, MaxPeersPerRoom, MaxRoomsPerConnection, MessagesPerSecond);
}

/// <summary>Stable error codes, the same as rtc-agent's own hub (src/errors.ts).</summary>
public static class RtcErrors
{
    public const string BadRequest = "RTC_ERR_BAD_REQUEST";
    public const string Forbidden = "RTC_ERR_FORBIDDEN";
    public const string InvalidRoomName = "RTC_ERR_INVALID_ROOM_NAME";
    public const string NotInRoom = "RTC_ERR_NOT_IN_ROOM";
    public const string PeerNotInRoom = "RTC_ERR_PEER_NOT_IN_ROOM";
    public const string RoomFull = "RTC_ERR_ROOM_FULL";
    public const string TooManyRooms = "RTC_ERR_TOO_MANY_ROOMS";
    public const string RateLimited = "RTC_ERR_RATE_LIMITED";

    /// <summary>Clients see <c>CODE: message</c> (ASP.NET Core prefixes its own text; clients search for the code).</summary>
    public static HubException Error(string code, string message) => new($"{code}: {message}");
}

/// <summary>The validated, normalised second argument of Join.</summary>
public sealed record JoinHello(string? AgentKey, string? Name, JsonElement Capabilities, IReadOnlyDictionary<string, string> Meta);

public static partial class RoomContract
{
    public const int ContractVersion = 1;
    /// <summary>Additions to version 1 this hub implements (src/protocol/room-contract.ts CONTRACT_FEATURES).</summary>
    public static readonly IReadOnlyList<string> Features = ["members"];
    public const int MaxNameLength = 64;
    public const int MinAgentKeyLength = 16;
    public const int MaxAgentKeyLength = 128;
    public const int PeerIdLength = 16;
    private const int MaxMetaEntries = 16;
    private const int MaxMetaValueLength = 256;
    private const int MaxCapabilitiesJsonLength = 2048;

    // \z, not $: .NET's $ would also accept a trailing "\n".
    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\z")]
    private static partial Regex RoomNamePattern();

    [GeneratedRegex(@"[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]")]
    private static partial Regex UnsafeNameChars();

    private static readonly JsonSerializerOptions CompactJson = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private static readonly JsonElement DefaultCapabilities = JsonDocument.Parse("""{"native":false}""").RootElement.Clone();

    /// <summary>A room name, or RTC_ERR_BAD_REQUEST (null) / RTC_ERR_INVALID_ROOM_NAME (pattern).</summary>
    public static string ValidateRoomName(string? room)
    {
        if (room is null) throw RtcErrors.Error(RtcErrors.BadRequest, "room must be a string, got null");
        if (!RoomNamePattern().IsMatch(room))
        {
            var shown = JsonSerializer.Serialize(room.Length > 80 ? room[..80] : room, CompactJson);
            throw RtcErrors.Error(RtcErrors.InvalidRoomName,
                $"invalid room name {shown}: use 1-64 of A-Z a-z 0-9 . _ - starting with a letter or digit");
        }
        return room;
    }

    /// <summary>Validates the untrusted hello (any JSON value; null or missing means {}).</summary>
    public static JoinHello ValidateHello(JsonElement hello)
    {
        var meta = new Dictionary<string, string>(StringComparer.Ordinal);
        if (hello.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined) return new(null, null, DefaultCapabilities, meta);
        if (hello.ValueKind != JsonValueKind.Object) throw BadRequest($"hello must be an object, got {DescribeType(hello)}");

        string? agentKey = null;
        if (hello.TryGetProperty("agentKey", out var key))
        {
            if (key.ValueKind != JsonValueKind.String || key.GetString()!.Length is < MinAgentKeyLength or > MaxAgentKeyLength)
                throw BadRequest($"hello.agentKey must be a string of {MinAgentKeyLength}-{MaxAgentKeyLength} characters");
            agentKey = key.GetString();
        }

        string? name = null;
        if (hello.TryGetProperty("name", out var nameValue))
        {
            if (nameValue.ValueKind != JsonValueKind.String || nameValue.GetString()!.Length > MaxNameLength)
                throw BadRequest($"hello.name must be a string of at most {MaxNameLength} characters");
            name = SanitizeDisplayName(nameValue.GetString()!);
        }

        var capabilities = DefaultCapabilities;
        if (hello.TryGetProperty("capabilities", out var caps))
        {
            if (caps.ValueKind != JsonValueKind.Object) throw BadRequest("hello.capabilities must be an object");
            if (JsonSerializer.Serialize(caps, CompactJson).Length > MaxCapabilitiesJsonLength)
                throw BadRequest($"hello.capabilities must be under {MaxCapabilitiesJsonLength} bytes of JSON");
            var hasNative = caps.TryGetProperty("native", out var native);
            if (hasNative && native.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
                throw BadRequest("hello.capabilities.native must be a boolean");
            if (caps.TryGetProperty("e2eePublicKey", out var e2ee) && e2ee.ValueKind != JsonValueKind.String)
                throw BadRequest("hello.capabilities.e2eePublicKey must be a string");
            // Keep everything the client sent (feature flags), with `native` a real boolean.
            var normalised = JsonObject.Create(caps.Clone())!;
            normalised["native"] = hasNative && native.ValueKind == JsonValueKind.True;
            capabilities = JsonSerializer.SerializeToElement(normalised);
        }

        if (hello.TryGetProperty("meta", out var metaValue))
        {
            if (metaValue.ValueKind != JsonValueKind.Object) throw BadRequest("hello.meta must be an object of strings");
            var entries = metaValue.EnumerateObject().ToList();
            if (entries.Count > MaxMetaEntries) throw BadRequest($"hello.meta may have at most {MaxMetaEntries} entries");
            foreach (var entry in entries)
            {
                if (entry.Value.ValueKind != JsonValueKind.String || entry.Value.GetString()!.Length > MaxMetaValueLength || entry.Name.Length > MaxNameLength)
                {
                    var shownKey = entry.Name.Length > MaxNameLength ? entry.Name[..MaxNameLength] : entry.Name;
                    throw BadRequest($"hello.meta.{shownKey} must be a string of at most {MaxMetaValueLength} characters");
                }
                meta[entry.Name] = entry.Value.GetString()!;
            }
        }
        return new(agentKey, name, capabilities, meta);
    }

    /// <summary>Strips control and bidi-override characters so a name can't rewrite a peer's terminal.</summary>
    public static string SanitizeDisplayName(string name)
    {
        var clean = UnsafeNameChars().Replace(name, "").Trim().Trim('\uFEFF');
        return clean.Length > MaxNameLength ? clean[..MaxNameLength] : clean;
    }

    /// <summary>base64url(SHA-256(UTF-8("rtc-agent-peer-v1\n" + userId + "\n" + agentKey))), first 16 characters.</summary>
    public static string DerivePeerId(string? userId, string agentKey)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes($"rtc-agent-peer-v1\n{userId ?? ""}\n{agentKey}"));
        return Base64Url.EncodeToString(hash)[..PeerIdLength];
    }

    /// <summary>A fresh id for a connection whose hello has no agentKey (12 random bytes = 16 characters).</summary>
    public static string RandomPeerId() => Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(12));

    public static string DescribeType(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Object => "object",
        JsonValueKind.Array => "array",
        JsonValueKind.String => "string",
        JsonValueKind.Number => "number",
        JsonValueKind.True or JsonValueKind.False => "boolean",
        JsonValueKind.Null => "null",
        _ => "undefined",
    };

    private static HubException BadRequest(string message) => RtcErrors.Error(RtcErrors.BadRequest, message);
}
