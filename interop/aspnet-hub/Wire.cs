// What crosses the wire in either SignalR hub protocol, JSON or MessagePack (a client picks one in
// its handshake; AddMessagePackProtocol in Program.cs). Hub method arguments arrive as a
// JsonElement over JSON and as plain MessagePack values (dictionaries, arrays, primitives, byte[])
// over MessagePack; both become one JsonElement here, so the contract's checks are written once.
// What the hub sends goes out as a plain tree (dictionaries, lists, primitives) with the JSON
// protocol's camelCase names, which both protocols serialise the same way. Relay payloads are
// bytes: base64 text for JSON clients, bin for MessagePack ones.
using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace RtcAgent.AspNetHub;

public static class Wire
{
    /// <summary>The JSON protocol's naming (camelCase properties, dictionary keys as they are).</summary>
    private static readonly JsonSerializerOptions Web = new(JsonSerializerDefaults.Web);

    /// <summary>An argument of either protocol as a JsonElement (null or missing: Undefined).</summary>
    public static JsonElement In(object? value) => value switch
    {
        null => default,
        JsonElement e => e,
        _ => JsonSerializer.SerializeToElement(ToNode(value)),
    };

    private static JsonNode? ToNode(object? value) => value switch
    {
        null => null,
        IDictionary<object, object?> map => new JsonObject(map.Select(kv => KeyValuePair.Create(kv.Key?.ToString() ?? "", ToNode(kv.Value)))),
        byte[] bytes => JsonValue.Create(Convert.ToBase64String(bytes)),
        object[] items => new JsonArray(items.Select(ToNode).ToArray()),
        string s => JsonValue.Create(s),
        bool b => JsonValue.Create(b),
        float or double => JsonValue.Create(Convert.ToDouble(value)),
        ulong u => JsonValue.Create(u),
        IConvertible c => JsonValue.Create(c.ToInt64(null)),
        _ => JsonValue.Create(value.ToString()),
    };

    /// <summary>A value to send (a result or an invocation argument), as a tree both protocols write alike.</summary>
    public static object? Out(object? value) => Plain(value is JsonElement e ? e : JsonSerializer.SerializeToElement(value, Web));

    private static object? Plain(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => e.EnumerateObject().ToDictionary(p => p.Name, p => Plain(p.Value), StringComparer.Ordinal),
        JsonValueKind.Array => e.EnumerateArray().Select(Plain).ToList(),
        JsonValueKind.String => e.GetString(),
        JsonValueKind.Number => e.TryGetInt64(out var n) ? n : e.GetDouble(),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        _ => null,
    };

    /// <summary>
    /// Connections known to speak MessagePack. A hub method cannot ask which protocol its caller
    /// speaks, but the arguments show it: Join's hello arrives as a JsonElement over JSON and as a
    /// MessagePack map otherwise (a client that joins with no hello at all counts as JSON).
    /// </summary>
    private static readonly ConcurrentDictionary<string, bool> Binary = new();

    public static void NoteJoin(string connectionId, object? hello)
    {
        if (hello is not null and not JsonElement) Binary[connectionId] = true;
    }

    public static void Forget(string connectionId) => Binary.TryRemove(connectionId, out _);

    /// <summary>
    /// A Relay payload as it goes on. Bytes (MessagePack bin) stay bytes: ASP.NET Core writes a
    /// byte[] as base64 for JSON recipients. Base64 text from a JSON client is decoded only when a
    /// MessagePack client is among the recipients, so a JSON room pays for no conversion; text
    /// that is not base64 goes on as the string.
    /// </summary>
    public static object RelayPayload(object? payload, IEnumerable<string> recipients) => payload switch
    {
        byte[] bytes => bytes,
        JsonElement { ValueKind: JsonValueKind.String } s =>
            recipients.Any(Binary.ContainsKey) && s.TryGetBytesFromBase64(out var decoded) ? decoded : s.GetString()!,
        string s => s,
        _ => throw RtcErrors.Error(RtcErrors.BadRequest, $"Relay's payload must be a base64 string (JSON) or binary (MessagePack), got {Describe(payload)}"),
    };

    public static string Describe(object? value) => value switch
    {
        null => "null",
        byte[] => "binary",
        _ => RoomContract.DescribeType(In(value)),
    };
}
