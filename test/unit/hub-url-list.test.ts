/**
 * `hubUrl` takes one hub or several: a comma-separated string (env, flags, file, options) or an
 * array (file, options); every entry is checked, the error says which one and where it came from;
 * the same hub twice is refused. Plus the pure failover plan: which hub each reconnect attempt
 * goes to, when, and the error naming every hub when none accepts.
 */
import { describe, expect, it } from 'vitest';
import { settingsFromFlags } from '../../src/cli/agent-flags.js';
import { defaultSettings, redactSettings, resolveSettings, type AgentSettings, type SettingsLayers } from '../../src/config/agent-settings.js';
import { ErrorCode, RtcAgentError } from '../../src/errors.js';
import { MAX_RECONNECT_DELAY_MS, SAME_HUB_ATTEMPTS, hubForAttempt, noHubAccepted, reconnectDelayMs } from '../../src/signaling/hub-failover.js';

const DEFAULTS: AgentSettings = { ...defaultSettings(), name: 'tester' };
const A = 'http://10.0.0.1:8080/hub';
const B = 'https://hub-b.example/hub';
const C = 'http://[::1]:9000/hub';

function resolve(layers: Omit<SettingsLayers, 'defaults'>): AgentSettings {
  return resolveSettings({ defaults: DEFAULTS, ...layers });
}

function configError(fn: () => unknown): RtcAgentError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(RtcAgentError);
    expect((err as RtcAgentError).code).toBe(ErrorCode.CONFIG);
    return err as RtcAgentError;
  }
  throw new Error('expected a config error');
}

describe('hubUrl: one hub or several', () => {
  it('is always an array, one entry by default', () => {
    expect(defaultSettings().hubUrl).toEqual(['http://127.0.0.1:8080/hub']);
    expect(resolve({ options: { hubUrl: A } }).hubUrl).toEqual([A]);
  });

  it('reads a comma-separated list from env and flags, keeping the order and trimming spaces', () => {
    expect(resolve({ env: { RTC_AGENT_HUB_URL: ` ${B} , ${A},${C} ` } }).hubUrl).toEqual([B, A, C]);
    const fromFlags = settingsFromFlags({ hub: `${A},${B}` });
    expect(resolveSettings({ defaults: DEFAULTS, options: fromFlags, optionsLabel: 'flags' }).hubUrl).toEqual([A, B]);
    // A trailing comma is harmless.
    expect(resolve({ env: { RTC_AGENT_HUB_URL: `${A},` } }).hubUrl).toEqual([A]);
  });

  it('reads an array or a comma string from a config file and from createAgent options', () => {
    expect(resolve({ file: { path: '/f.json', data: { hubUrl: [A, B] } } }).hubUrl).toEqual([A, B]);
    expect(resolve({ file: { path: '/f.json', data: { hubUrl: `${A},${B}` } } }).hubUrl).toEqual([A, B]);
    expect(resolve({ options: { hubUrl: [C, A] } }).hubUrl).toEqual([C, A]);
    // An array entry is taken whole: the way to give a URL that contains a comma.
    expect(resolve({ options: { hubUrl: ['http://h/hub?tags=a,b'] } }).hubUrl).toEqual(['http://h/hub?tags=a,b']);
  });

  it('round-trips: resolved settings passed back as options resolve to the same list', () => {
    const first = resolve({ env: { RTC_AGENT_HUB_URL: `${A},${B}` } });
    expect(resolve({ options: { hubUrl: first.hubUrl } }).hubUrl).toEqual([A, B]);
  });

  it('names the setting, the source and which entry is wrong', () => {
    const fromEnv = configError(() => resolve({ env: { RTC_AGENT_HUB_URL: `${A},ws://b/hub,${C}` } }));
    expect(fromEnv.message).toBe(
      `setting 'hubUrl' from env RTC_AGENT_HUB_URL has a bad entry 2 of 3: mixes SignalR (http/https) and JSON-RPC (ws/wss) hubs; the hubs of one list speak one protocol, got "ws://b/hub"`,
    );
    expect(fromEnv.details).toEqual({ setting: 'hubUrl', source: 'env', envVar: 'RTC_AGENT_HUB_URL' });

    const fromFlags = configError(() => resolveSettings({ defaults: DEFAULTS, options: settingsFromFlags({ hub: `nope,${A}` }), optionsLabel: 'flags' }));
    expect(fromFlags.message).toBe(`setting 'hubUrl' from flags has a bad entry 1 of 2: must be an http:// or https:// URL (SignalR) or a ws:// or wss:// URL (JSON-RPC), got "nope"`);

    const fromFile = configError(() => resolve({ file: { path: '/etc/agent.json', data: { hubUrl: [A, 42] } } }));
    expect(fromFile.message).toBe(`setting 'hubUrl' from config file /etc/agent.json has a bad entry 2 of 2: must be a string, got 42`);
    expect(fromFile.details).toMatchObject({ setting: 'hubUrl', source: 'file', file: '/etc/agent.json' });

    // One URL keeps the plain message it always had.
    expect(configError(() => resolve({ options: { hubUrl: 'ftp://h/hub' } })).message).toBe(
      `setting 'hubUrl' from options must be an http:// or https:// URL (SignalR) or a ws:// or wss:// URL (JSON-RPC), got "ftp://h/hub"`,
    );
  });

  it('refuses an empty list and anything that is neither a string nor an array', () => {
    expect(configError(() => resolve({ env: { RTC_AGENT_HUB_URL: ' , ,' } })).message).toBe(
      `setting 'hubUrl' from env RTC_AGENT_HUB_URL must list at least one hub: an http:// or https:// URL (SignalR) or a ws:// or wss:// URL (JSON-RPC)`,
    );
    expect(configError(() => resolve({ options: { hubUrl: [] } })).message).toBe(`setting 'hubUrl' from options must list at least one hub: an http:// or https:// URL (SignalR) or a ws:// or wss:// URL (JSON-RPC)`);
    expect(configError(() => resolve({ file: { path: '/f.json', data: { hubUrl: { url: A } } } })).message).toBe(
      `setting 'hubUrl' from config file /f.json must be an http:// or https:// URL (SignalR) or a ws:// or wss:// URL (JSON-RPC), or an array of them, got {"url":"${A}"}`,
    );
  });

  it('refuses the same hub twice, saying which entries, also when spelled differently', () => {
    expect(configError(() => resolve({ env: { RTC_AGENT_HUB_URL: `${A},${B},${A}` } })).message).toBe(
      `setting 'hubUrl' from env RTC_AGENT_HUB_URL lists the same hub twice (entries 1 and 3); give each hub once, got "${A}"`,
    );
    // Same URL once normalised: upper-case host, default port.
    expect(configError(() => resolve({ options: { hubUrl: ['https://HUB-B.example:443/hub', B] } })).message).toBe(
      `setting 'hubUrl' from options lists the same hub twice (entries 1 and 2); give each hub once, got "${B}"`,
    );
  });

  it('masks credentials in every entry of a bad list and in redacted settings', () => {
    const err = configError(() => resolve({ options: { hubUrl: [A, 'ws://user:pw@h/hub?access_token=sekret'] } }));
    expect(err.message).not.toContain('pw');
    expect(err.message).not.toContain('sekret');
    const shown = redactSettings({ ...DEFAULTS, hubUrl: ['http://u:pw@a/hub', 'http://b/hub?access_token=sekret'] });
    expect(shown.hubUrl).toEqual(['http://***@a/hub', 'http://b/hub?access_token=***']);
  });
});

describe('failover plan', () => {
  it('tries the lost hub once, then the others in list order, cycling', () => {
    expect(SAME_HUB_ATTEMPTS).toBe(1);
    expect([0, 1, 2, 3, 4].map((k) => hubForAttempt(k, 0, 2))).toEqual([0, 1, 0, 1, 0]);
    expect([0, 1, 2, 3, 4, 5].map((k) => hubForAttempt(k, 1, 3))).toEqual([1, 2, 0, 1, 2, 0]);
    expect([0, 1, 2].map((k) => hubForAttempt(k, 0, 1))).toEqual([0, 0, 0]);
  });

  it('goes round the hubs at once, then backs off exponentially with jitter, capped', () => {
    const mid = (): number => 0.5; // no jitter
    // One hub: at once, then base, 2×base, 4×base, as the SignalR policy always did here.
    expect([0, 1, 2, 3].map((k) => reconnectDelayMs(k, 1, 100, mid))).toEqual([0, 100, 200, 400]);
    // Two hubs: both at once, then base, 2×base…
    expect([0, 1, 2, 3, 4].map((k) => reconnectDelayMs(k, 2, 100, mid))).toEqual([0, 0, 100, 200, 400]);
    expect(reconnectDelayMs(40, 2, 2_000, mid)).toBe(MAX_RECONNECT_DELAY_MS);
    expect(reconnectDelayMs(2, 2, 1_000, () => 0)).toBe(800);
    expect(reconnectDelayMs(2, 2, 1_000, () => 0.999_999)).toBe(1_200);
  });

  it('names every hub and why each failed when none accepts', () => {
    const down = new RtcAgentError(ErrorCode.HUB_UNREACHABLE, `cannot reach hub ${A}: connect ECONNREFUSED 10.0.0.1:8080`);
    const refused = new RtcAgentError(ErrorCode.UNAUTHORIZED, `hub ${B} refused the token (401)`);
    const vague = new RtcAgentError(ErrorCode.SHUTTING_DOWN, 'the hub is shutting down');
    const err = noHubAccepted([
      { url: A, error: down },
      { url: B, error: refused },
      { url: C, error: vague },
    ]);
    expect(err.code).toBe(ErrorCode.HUB_UNREACHABLE);
    expect(err.message).toBe(
      `none of 3 hubs accepted the connection: (1) RTC_ERR_HUB_UNREACHABLE: cannot reach hub ${A}: connect ECONNREFUSED 10.0.0.1:8080; ` +
        `(2) RTC_ERR_UNAUTHORIZED: hub ${B} refused the token (401); (3) ${C}: RTC_ERR_SHUTTING_DOWN: the hub is shutting down`,
    );
    expect(err.details).toEqual({
      hubs: [
        { url: A, code: ErrorCode.HUB_UNREACHABLE, reason: down.message },
        { url: B, code: ErrorCode.UNAUTHORIZED, reason: refused.message },
        { url: C, code: ErrorCode.SHUTTING_DOWN, reason: vague.message },
      ],
    });
  });

  it('keeps the code all hubs agree on, and one hub\'s error as it is', () => {
    const r1 = new RtcAgentError(ErrorCode.UNAUTHORIZED, `hub ${A} refused the token (401)`);
    const r2 = new RtcAgentError(ErrorCode.UNAUTHORIZED, `hub ${B} refused the token (401)`);
    expect(noHubAccepted([{ url: A, error: r1 }, { url: B, error: r2 }]).code).toBe(ErrorCode.UNAUTHORIZED);
    expect(noHubAccepted([{ url: A, error: r1 }])).toBe(r1);
  });
});
