/**
 * Keeping secrets out of errors and logs. Secret settings are never shown; other values are shown
 * with any credentials they carry (URL user info, token query parameters) masked.
 */
import { SETTING_NAMES, SPECS, type AgentSettings } from './settings-schema.js';
import { typeName } from './value-kinds.js';

const HIDDEN = '(hidden)';
const MAX_SHOWN_CHARS = 120;

/** Masks `user:pass@` in URLs and token-like query parameters: `turn:u:p@host` → `turn:***@host`. */
export function maskCredentials(text: string): string {
  return text
    .replace(/(\b[a-z][a-z0-9+.-]*:(?:\/\/)?)[^@\s/?#]+@/gi, '$1***@')
    .replace(/([?&](?:access_token|token|password|secret|key)=)[^&#\s]*/gi, '$1***');
}

/** How an offending value appears in an error message (after "got "). */
export function showValue(value: unknown, secret: boolean): string {
  if (secret) return `${typeName(value)} (value hidden)`;
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  if (typeof value === 'string' || (typeof value === 'object' && value !== null)) {
    let text: string;
    try {
      text = JSON.stringify(value);
    } catch {
      return typeName(value);
    }
    if (text.length > MAX_SHOWN_CHARS) text = `${text.slice(0, MAX_SHOWN_CHARS)}…`;
    return maskCredentials(text);
  }
  return typeName(value);
}

/** A copy safe to log or print: secrets replaced by "(hidden)", credentials in URLs masked. */
export function redactSettings(settings: AgentSettings): AgentSettings {
  const out: Record<string, unknown> = { ...settings };
  for (const name of SETTING_NAMES) {
    const value = out[name];
    if (value === undefined) continue;
    if (SPECS[name].secret === true) out[name] = HIDDEN;
    else if (typeof value === 'string') out[name] = maskCredentials(value);
    else if (Array.isArray(value)) out[name] = value.map((v: unknown) => (typeof v === 'string' ? maskCredentials(v) : v));
  }
  return out as unknown as AgentSettings;
}
