/**
 * SignalR's text framing: every JSON message ends with the ASCII record separator 0x1E, and one
 * transport frame may carry several messages (HubProtocol.md, "JSON Encoding").
 */
export const RECORD_SEPARATOR = '\u001e';

export function writeRecord(json: string): string {
  return json + RECORD_SEPARATOR;
}

/**
 * Splits buffered text into complete records. The text after the last separator is returned as
 * `rest` so a caller can keep it until the next frame (the official client never splits a message
 * across frames, but other clients may).
 */
export function splitRecords(text: string): { records: string[]; rest: string } {
  const parts = text.split(RECORD_SEPARATOR);
  const rest = parts.pop() ?? '';
  return { records: parts, rest };
}
