/**
 * createAgent()'s options in a browser (src/browser/options.ts): the engine's defaults, and a clear
 * RTC_ERR_CONFIG naming the option for every bad value, before anything connects.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_HEARTBEAT_INTERVAL_MS, DEFAULT_ICE_CONNECTION_TIMEOUT_MS, DEFAULT_SEND_TIMEOUT_MS } from '../../src/engine/constants.js';
import { generateIdentity } from '../../src/engine/crypto/index.js';
import { DEFAULT_BROWSER_MAX_FILE_BYTES, resolveBrowserOptions, type BrowserAgentOptions } from '../../src/browser/options.js';

const HUB = 'https://hub.example/hub';

function configError(options: unknown): { code: string; message: string; setting: unknown } {
  try {
    resolveBrowserOptions(options as BrowserAgentOptions);
  } catch (err) {
    const e = err as { code: string; message: string; details?: { setting?: unknown } };
    return { code: e.code, message: e.message, setting: e.details?.setting };
  }
  throw new Error(`accepted ${JSON.stringify(options)}`);
}

describe('browser createAgent options', () => {
  it("applies the engine's defaults", () => {
    expect(resolveBrowserOptions({ hubUrl: HUB })).toEqual({
      hubUrl: [HUB],
      name: 'browser',
      iceServers: [],
      iceTransportPolicy: 'all',
      tryNative: true,
      heartbeatIntervalMs: DEFAULT_HEARTBEAT_INTERVAL_MS,
      iceConnectionTimeoutMs: DEFAULT_ICE_CONNECTION_TIMEOUT_MS,
      sendTimeoutMs: DEFAULT_SEND_TIMEOUT_MS,
      maxReconnectAttempts: 10,
      reconnectIntervalMs: 2_000,
      allowRelay: true,
      reliable: true,
      acceptFiles: true,
      maxFileBytes: DEFAULT_BROWSER_MAX_FILE_BYTES,
      logLevel: 'warn',
      e2ee: undefined,
    });
  });

  it('takes several hubs, ICE servers and E2EE in its forms', async () => {
    const identity = await generateIdentity();
    const s = resolveBrowserOptions({
      hubUrl: [HUB, 'http://127.0.0.1:8080/hub'],
      iceServers: [{ urls: 'turn:turn.example:3478', username: 'u', credential: 'p' }],
      maxReconnectAttempts: 0,
      e2ee: { roomSecret: 's3cret', identity },
    });
    expect(s.hubUrl).toEqual([HUB, 'http://127.0.0.1:8080/hub']);
    expect(s.maxReconnectAttempts).toBe(0);
    expect(s.e2ee).toEqual({ roomSecret: 's3cret', identity, knownPeers: undefined });
    expect(resolveBrowserOptions({ hubUrl: HUB, e2ee: true }).e2ee).toEqual({ roomSecret: undefined, identity: 'session', knownPeers: undefined });
    expect(resolveBrowserOptions({ hubUrl: HUB, e2ee: { identity: 'stored' } }).e2ee?.identity).toBe('stored');
    expect(resolveBrowserOptions({ hubUrl: HUB, e2ee: false }).e2ee).toBeUndefined();
  });

  it('needs a hubUrl outside a page (no origin to default to)', () => {
    expect(configError({})).toMatchObject({ code: 'RTC_ERR_CONFIG', setting: 'hubUrl', message: expect.stringContaining('required outside a page') });
  });

  it('refuses each bad value with RTC_ERR_CONFIG naming the option', () => {
    const cases: [BrowserAgentOptions | Record<string, unknown>, string, RegExp][] = [
      [{ hubUrl: 'ws://hub.example/hub' }, 'hubUrl', /http:\/\/ or https:\/\//],
      [{ hubUrl: [] }, 'hubUrl', /non-empty array/],
      [{ hubUrl: [HUB, HUB] }, 'hubUrl', /twice/],
      [{ hubUrl: HUB, name: '' }, 'name', /1-64 characters/],
      [{ hubUrl: HUB, name: 'x'.repeat(65) }, 'name', /1-64 characters/],
      [{ hubUrl: HUB, name: 'a\u0007b' }, 'name', /control characters/],
      [{ hubUrl: HUB, agentKey: 'short' }, 'agentKey', /16-128 characters/],
      [{ hubUrl: HUB, accessToken: 'Bearer abc' }, 'accessToken', /the token alone/],
      [{ hubUrl: HUB, accessTokenFactory: 'abc' }, 'accessTokenFactory', /must be a function/],
      [{ hubUrl: HUB, heartbeatIntervalMs: 0 }, 'heartbeatIntervalMs', /whole number ≥ 1, got 0/],
      [{ hubUrl: HUB, sendTimeoutMs: 1.5 }, 'sendTimeoutMs', /whole number/],
      [{ hubUrl: HUB, iceConnectionTimeoutMs: '15000' }, 'iceConnectionTimeoutMs', /whole number.*got "15000"/],
      [{ hubUrl: HUB, maxReconnectAttempts: -1 }, 'maxReconnectAttempts', /≥ 0/],
      [{ hubUrl: HUB, allowRelay: 'yes' }, 'allowRelay', /true or false/],
      [{ hubUrl: HUB, iceTransportPolicy: 'turn' }, 'iceTransportPolicy', /'all' or 'relay'/],
      [{ hubUrl: HUB, iceServers: [{ urls: 'http://stun.example' }] }, 'iceServers', /stun:, stuns:, turn: or turns:/],
      [{ hubUrl: HUB, iceServers: [{ urls: 'turn:t.example', credential: 5 }] }, 'iceServers', /credential must be a string/],
      [{ hubUrl: HUB, logLevel: 'verbose' }, 'logLevel', /one of trace, debug/],
      [{ hubUrl: HUB, e2ee: 'on' }, 'e2ee', /true, false or/],
      [{ hubUrl: HUB, e2ee: { secret: 'x' } }, 'e2ee', /no field 'secret'/],
      [{ hubUrl: HUB, e2ee: { roomSecret: '' } }, 'e2ee.roomSecret', /non-empty string/],
      [{ hubUrl: HUB, e2ee: { identity: 'file' } }, 'e2ee.identity', /'session', 'stored' or an Identity/],
      [{ hubUrl: HUB, signal: {} }, 'signal', /AbortSignal/],
    ];
    for (const [options, setting, message] of cases) {
      const err = configError(options);
      expect(err, JSON.stringify(options)).toMatchObject({ code: 'RTC_ERR_CONFIG', setting });
      expect(err.message, setting).toMatch(new RegExp(`option '${setting.replace('.', '\\.')}'`));
      expect(err.message, setting).toMatch(message);
    }
  });

  it('refuses an unknown option, suggesting the one meant', () => {
    expect(configError({ hubUrl: HUB, heartbeatIntervalMS: 5 })).toMatchObject({ code: 'RTC_ERR_CONFIG', message: "'heartbeatIntervalMS' is not an option of rtc-agent/browser (did you mean 'heartbeatIntervalMs'?)" });
    expect(configError({ hubUrl: HUB, downloadDir: '/tmp' }).message).toBe("'downloadDir' is not an option of rtc-agent/browser");
  });
});
