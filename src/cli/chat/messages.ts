/**
 * What chat lines look like, and the envelope that marks a direct message. The engine does not
 * tell a receiver whether a message was sent to it alone, so chat sends `/msg` as a small JSON
 * message, `{"chat":"dm","text":…}`, that other chats show as a DM (other programs see it as the
 * JSON message it is).
 */
import type { ReceivedMessage } from '../../agent/index.js';
import { cleanForTerminal, formatTime } from '../terminal.js';

export interface DirectMessage {
  chat: 'dm';
  text: string;
}

export function directMessage(text: string): DirectMessage {
  return { chat: 'dm', text };
}

function isDirectMessage(data: unknown): data is DirectMessage {
  const d = data as Partial<DirectMessage> | null;
  return typeof d === 'object' && d !== null && d.chat === 'dm' && typeof d.text === 'string' && Object.keys(d).length === 2;
}

/** `12:00:01 alice [p2p] 🔒: hello`, or for a DM `12:00:01 alice → you (DM) [p2p]: psst`. */
export function formatMessage(m: ReceivedMessage): string {
  const lock = m.encrypted ? ' 🔒' : '';
  const who = cleanForTerminal(m.name);
  if (m.kind === 'json' && isDirectMessage(m.data)) return `${formatTime(m.timestamp)} ${who} → you (DM) [${m.path}]${lock}: ${cleanForTerminal(m.data.text)}`;
  const body = m.text !== undefined ? cleanForTerminal(m.text) : `[${(m.data as Uint8Array).length} bytes]`;
  return `${formatTime(m.timestamp)} ${who} [${m.path}]${lock}: ${body}`;
}

/** What the sender sees for its own DM. */
export function formatSentDirect(to: string, text: string): string {
  return `${formatTime(Date.now())} you → ${cleanForTerminal(to)} (DM): ${cleanForTerminal(text)}`;
}
