import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  SETTINGS,
  SETTING_NAMES,
  defaultSettings,
  loadSettings,
  loadSettingsWithSources,
  redactSettings,
  resolveSettings,
  resolveSettingsWithSources,
  settingsTable,
  type AgentSettings,
  type SettingsLayers,
} from '../../src/config/agent-settings.js';
import { ErrorCode, RtcAgentError } from '../../src/errors.js';

const DEFAULTS: AgentSettings = { ...defaultSettings(), name: 'tester' };
const dir = mkdtempSync(join(tmpdir(), 'rtc-agent-settings-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let fileCount = 0;
function writeConfig(content: unknown): string {
  const path = join(dir, `config-${fileCount++}.json`);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

function resolve(layers: Omit<SettingsLayers, 'defaults'>): AgentSettings {
  return resolveSettings({ defaults: DEFAULTS, ...layers });
}

/** The CONFIG error thrown by `fn`. */
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

async function configErrorAsync(p: Promise<unknown>): Promise<RtcAgentError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RtcAgentError);
  expect((err as RtcAgentError).code).toBe(ErrorCode.CONFIG);
  return err as RtcAgentError;
}

describe('defaults', () => {
  it('has every documented default', () => {
    const d = defaultSettings();
    expect(d).toMatchObject({
      hubUrl: ['http://127.0.0.1:8080/hub'],
      stunServers: [],
      iceConnectionTimeoutMs: 15000,
      maxReconnectAttempts: 10,
      reconnectIntervalMs: 2000,
      reliable: true,
      heartbeatIntervalMs: 5000,
      tryNative: true,
      allowRelay: true,
      logLevel: 'warn',
      iceTransportPolicy: 'all',
      enableE2ee: false,
      sendTimeoutMs: 30000,
    });
    for (const unset of ['accessToken', 'turnUrl', 'turnUsername', 'turnPassword', 'iceBindAddress', 'icePortRange', 'roomSecret']) {
      expect(d).not.toHaveProperty(unset);
    }
    expect(d.name.length).toBeGreaterThan(0);
    expect(d.name.length).toBeLessThanOrEqual(64);
  });

  it('resolves to the defaults when no layer says anything', () => {
    const { settings, sources } = resolveSettingsWithSources({ defaults: DEFAULTS, env: {}, options: {} });
    expect(settings).toEqual(DEFAULTS);
    expect(Object.values(sources).every((s) => s === 'default')).toBe(true);
  });

  it('returns copies, so callers cannot change the defaults', () => {
    const s = resolve({});
    s.stunServers.push('stun:x');
    expect(DEFAULTS.stunServers).toEqual([]);
  });
});

describe('sources', () => {
  it('reads explicit options', () => {
    const s = resolve({ options: { hubUrl: 'https://hub.example/hub', reliable: false, icePortRange: { begin: 50000, end: 50100 } } });
    expect(s).toMatchObject({ hubUrl: ['https://hub.example/hub'], reliable: false, icePortRange: { begin: 50000, end: 50100 } });
  });

  it('reads RTC_AGENT_* env vars and ignores unknown ones', () => {
    const s = resolve({
      env: {
        RTC_AGENT_HUB_URL: 'http://10.0.0.1:9000/hub',
        RTC_AGENT_ICE_CONNECTION_TIMEOUT_MS: '2500',
        RTC_AGENT_LOG_LEVEL: 'DEBUG',
        RTC_AGENT_ICE_TRANSPORT_POLICY: 'all',
        RTC_AGENT_ICE_BIND_ADDRESS: '127.0.0.1',
        RTC_AGENT_NAME: ' bot-1 ',
        RTC_AGENT_SOMETHING_ELSE: 'whatever',
        RTC_AGENT_CONFIG: '/not/read/by/resolve.json',
        HOME: '/root',
      },
    });
    expect(s).toMatchObject({
      hubUrl: ['http://10.0.0.1:9000/hub'],
      iceConnectionTimeoutMs: 2500,
      logLevel: 'debug',
      iceBindAddress: '127.0.0.1',
      name: 'bot-1',
    });
  });

  it('treats empty env vars and null/undefined values as unset', () => {
    const s = resolve({
      file: { path: '/f.json', data: { turnUrl: null, maxReconnectAttempts: 3 } },
      env: { RTC_AGENT_HUB_URL: '', RTC_AGENT_MAX_RECONNECT_ATTEMPTS: '  ' },
      options: { logLevel: undefined, accessToken: null },
    });
    expect(s.hubUrl).toEqual(DEFAULTS.hubUrl);
    expect(s.maxReconnectAttempts).toBe(3);
    expect(s.logLevel).toBe('warn');
    expect(s).not.toHaveProperty('accessToken');
  });

  it('reads a config file through loadSettings, including via RTC_AGENT_CONFIG', async () => {
    const path = writeConfig({ hubUrl: 'http://h:1/hub', stunServers: ['stun:a:3478'], icePortRange: '40000-40010' });
    const viaOption = await loadSettings({ configFile: path, env: {}, defaults: DEFAULTS });
    expect(viaOption).toMatchObject({ hubUrl: ['http://h:1/hub'], stunServers: ['stun:a:3478'], icePortRange: { begin: 40000, end: 40010 } });
    const viaEnv = await loadSettings({ env: { RTC_AGENT_CONFIG: path }, defaults: DEFAULTS });
    expect(viaEnv).toEqual(viaOption);
  });

  it('reads no file by default and strips a BOM', async () => {
    expect(await loadSettings({ env: {}, defaults: DEFAULTS })).toEqual(DEFAULTS);
    const path = writeConfig('\uFEFF{"name": "bom"}');
    expect((await loadSettings({ configFile: path, env: {}, defaults: DEFAULTS })).name).toBe('bom');
  });
});

describe('precedence: options > env > file > defaults', () => {
  it('picks the highest layer per setting', async () => {
    const path = writeConfig({ hubUrl: 'http://file/hub', name: 'from-file', heartbeatIntervalMs: 100, reliable: false });
    const { settings, sources } = await loadSettingsWithSources({
      configFile: path,
      defaults: DEFAULTS,
      env: { RTC_AGENT_HUB_URL: 'http://env/hub', RTC_AGENT_NAME: 'from-env', RTC_AGENT_SEND_TIMEOUT_MS: '7' },
      options: { hubUrl: 'http://options/hub' },
    });
    expect(settings).toMatchObject({
      hubUrl: ['http://options/hub'], // options beat env and file
      name: 'from-env', // env beats file
      heartbeatIntervalMs: 100, // file beats defaults
      reliable: false,
      sendTimeoutMs: 7,
      iceConnectionTimeoutMs: 15000, // defaults
    });
    expect(sources).toMatchObject({ hubUrl: 'options', name: 'env', heartbeatIntervalMs: 'file', sendTimeoutMs: 'env', iceConnectionTimeoutMs: 'default' });
  });

  it('replaces lists instead of merging them, and the explicit file beats RTC_AGENT_CONFIG', async () => {
    const a = writeConfig({ stunServers: ['stun:a'] });
    const b = writeConfig({ stunServers: ['stun:b'] });
    const s = await loadSettings({ configFile: b, env: { RTC_AGENT_CONFIG: a }, defaults: DEFAULTS });
    expect(s.stunServers).toEqual(['stun:b']);
    const env = await loadSettings({ configFile: b, env: { RTC_AGENT_STUN_SERVERS: 'stun:c,stun:d' }, defaults: DEFAULTS });
    expect(env.stunServers).toEqual(['stun:c', 'stun:d']);
  });
});

describe('env parsing', () => {
  it.each([
    ['true', true], ['TRUE', true], ['1', true], ['yes', true], ['Yes', true],
    ['false', false], ['0', false], ['no', false], ['NO', false],
  ])('boolean %s → %s', (raw, value) => {
    expect(resolve({ env: { RTC_AGENT_TRY_NATIVE: raw } }).tryNative).toBe(value);
  });

  it('splits comma-separated lists, trimming and skipping empty entries', () => {
    const s = resolve({ env: { RTC_AGENT_STUN_SERVERS: ' stun:a.example:3478, stuns:[::1]:5349 ,,stun://b ' } });
    expect(s.stunServers).toEqual(['stun:a.example:3478', 'stuns:[::1]:5349', 'stun://b']);
  });

  it('parses port ranges, including a single port', () => {
    expect(resolve({ env: { RTC_AGENT_ICE_PORT_RANGE: '50000-50100' } }).icePortRange).toEqual({ begin: 50000, end: 50100 });
    expect(resolve({ env: { RTC_AGENT_ICE_PORT_RANGE: ' 50000 - 50000 ' } }).icePortRange).toEqual({ begin: 50000, end: 50000 });
    expect(resolve({ env: { RTC_AGENT_ICE_PORT_RANGE: '60000' } }).icePortRange).toEqual({ begin: 60000, end: 60000 });
  });

  it('parses integers, allowing 0 only where it means something', () => {
    expect(resolve({ env: { RTC_AGENT_MAX_RECONNECT_ATTEMPTS: '0' } }).maxReconnectAttempts).toBe(0);
    configError(() => resolve({ env: { RTC_AGENT_RECONNECT_INTERVAL_MS: '0' } }));
  });
});

describe('validation errors name the setting and the source', () => {
  it('env: the example from the brief', () => {
    const err = configError(() => resolve({ env: { RTC_AGENT_ICE_CONNECTION_TIMEOUT_MS: 'soon' } }));
    expect(err.message).toBe(`setting 'iceConnectionTimeoutMs' from env RTC_AGENT_ICE_CONNECTION_TIMEOUT_MS must be a positive integer, got "soon"`);
    expect(err.details).toEqual({ setting: 'iceConnectionTimeoutMs', source: 'env', envVar: 'RTC_AGENT_ICE_CONNECTION_TIMEOUT_MS' });
  });

  const bad: [string, unknown, RegExp][] = [
    ['hubUrl', 'not a url', /must be an http:\/\/ or https:\/\/ URL/],
    ['hubUrl', 'webrtc://h/room', /room URI names a room too/],
    ['hubUrl', 'ftp://h/hub', /http:\/\/ or https:\/\//],
    ['name', '', /must not be empty/],
    ['name', 'x'.repeat(65), /at most 64 characters/],
    ['name', 'a\u0007b', /control characters/],
    ['stunServers', ['stun:ok', 'http://nope'], /entry 1 must be a stun: or stuns: URL/],
    ['stunServers', 'stun:a', /must be a list/],
    ['stunServers', ['stun:u:p@host'], /must not contain credentials/],
    ['turnUrl', 'stun:host', /must be a turn: or turns: URL/],
    ['turnUrl', 'turn:host:99999', /port 1-65535/],
    ['iceConnectionTimeoutMs', 1.5, /positive integer, got 1.5/],
    ['iceConnectionTimeoutMs', '15000', /positive integer, got "15000"/],
    ['heartbeatIntervalMs', -1, /positive integer/],
    ['sendTimeoutMs', 2 ** 31, /at most 2147483647/],
    ['maxReconnectAttempts', -1, /integer ≥ 0/],
    ['reliable', 'true', /must be true or false, got "true"/],
    ['logLevel', 'verbose', /one of fatal, error, warn, info, debug, trace, silent/],
    ['iceBindAddress', 'localhost', /IPv4 or IPv6 address/],
    ['icePortRange', { begin: 80, end: 90 }, /1024-65535/],
    ['icePortRange', { begin: 50100, end: 50000 }, /begin must not be greater than end/],
    ['icePortRange', { begin: 50000, end: 50001, step: 1 }, /unknown field 'step'/],
    ['icePortRange', [50000, 50100], /must be \{"begin"/],
    ['iceTransportPolicy', 'turn', /one of all, relay/],
  ];

  it.each(bad)('options %s = %j', (setting, value, why) => {
    const err = configError(() => resolve({ options: { [setting]: value } as never }));
    expect(err.message).toMatch(new RegExp(`^setting '${setting}' from options `));
    expect(err.message).toMatch(why);
    expect(err.details).toMatchObject({ setting, source: 'options' });
  });

  it.each(bad)('config file %s = %j', (setting, value, why) => {
    const err = configError(() => resolve({ file: { path: '/x/y.json', data: { [setting]: value } } }));
    expect(err.message).toMatch(new RegExp(`^setting '${setting}' from config file /x/y.json `));
    expect(err.message).toMatch(why);
    expect(err.details).toEqual({ setting, source: 'file', file: '/x/y.json' });
  });

  it.each([
    ['RTC_AGENT_TRY_NATIVE', 'maybe', 'tryNative', /one of true, false, 1, 0, yes, no, got "maybe"/],
    ['RTC_AGENT_ICE_PORT_RANGE', '50000:50100', 'icePortRange', /must look like 50000-50100/],
    ['RTC_AGENT_ICE_PORT_RANGE', '100-200', 'icePortRange', /1024-65535/],
    ['RTC_AGENT_STUN_SERVERS', 'stun:a,turn:b', 'stunServers', /entry 1 must be a stun:/],
    ['RTC_AGENT_MAX_RECONNECT_ATTEMPTS', '-1', 'maxReconnectAttempts', /integer ≥ 0, got "-1"/],
    ['RTC_AGENT_SEND_TIMEOUT_MS', '1e3', 'sendTimeoutMs', /positive integer/],
    ['RTC_AGENT_LOG_LEVEL', 'loud', 'logLevel', /one of fatal/],
  ])('env %s=%s', (envVar, raw, setting, why) => {
    const err = configError(() => resolve({ env: { [envVar]: raw } }));
    expect(err.message).toMatch(new RegExp(`^setting '${setting}' from env ${envVar} `));
    expect(err.message).toMatch(why);
    expect(err.details).toEqual({ setting, source: 'env', envVar });
  });

  it('uses the options label the caller gives (e.g. flags)', () => {
    const err = configError(() => resolveSettings({ defaults: DEFAULTS, options: { sendTimeoutMs: 0 }, optionsLabel: 'flags' }));
    expect(err.message).toMatch(/^setting 'sendTimeoutMs' from flags must be a positive integer, got 0$/);
  });

  it('reports a bad file value even when a higher layer overrides it', () => {
    configError(() => resolve({ file: { path: '/f.json', data: { hubUrl: 'nope' } }, options: { hubUrl: 'http://ok/hub' } }));
  });

  it('rejects unknown option keys with a suggestion', () => {
    const err = configError(() => resolve({ options: { hubUlr: 'http://x/hub' } as never }));
    expect(err.message).toBe("options: unknown setting 'hubUlr' (did you mean 'hubUrl'?)");
    expect(configError(() => resolve({ options: { zzz: 1 } as never })).message).toBe("options: unknown setting 'zzz'");
  });
});

describe('combinations', () => {
  const turn = { turnUrl: 'turn:turn.example:3478', turnUsername: 'u', turnPassword: 'p' };

  it('accepts TURN with both credentials, or with none (credentials in the URL)', () => {
    expect(resolve({ options: turn })).toMatchObject(turn);
    expect(resolve({ options: { turnUrl: 'turns:u:p@turn.example:5349?transport=tcp' } }).turnUrl).toBe('turns:u:p@turn.example:5349?transport=tcp');
    expect(resolve({ options: { turnUrl: 'turn:h', iceTransportPolicy: 'relay' } }).iceTransportPolicy).toBe('relay');
  });

  it('wants TURN username and password together, naming the one given and its source', () => {
    const err = configError(() => resolve({ options: { turnUrl: turn.turnUrl }, env: { RTC_AGENT_TURN_PASSWORD: 'hunter2hunter2' } }));
    expect(err.message).toBe("setting 'turnPassword' from env RTC_AGENT_TURN_PASSWORD needs 'turnUsername' too (give both or neither)");
    expect(err.message).not.toContain('hunter2');
    const err2 = configError(() => resolve({ file: { path: '/c.json', data: { turnUrl: turn.turnUrl, turnUsername: 'u' } } }));
    expect(err2.message).toMatch(/^setting 'turnUsername' from config file \/c.json needs 'turnPassword'/);
  });

  it('rejects TURN credentials without a TURN URL, and relay-only without TURN', () => {
    expect(configError(() => resolve({ options: { turnUsername: 'u', turnPassword: 'p' } })).message).toMatch(/'turnUsername' from options needs 'turnUrl'/);
    const err = configError(() => resolve({ env: { RTC_AGENT_ICE_TRANSPORT_POLICY: 'relay' } }));
    expect(err.message).toBe("setting 'iceTransportPolicy' from env RTC_AGENT_ICE_TRANSPORT_POLICY is 'relay' but 'turnUrl' is not set (relay means TURN only)");
  });
});

describe('secrets are never echoed', () => {
  const SECRET = 'sup3r-s3cret-value';

  it.each([
    ['accessToken', `Bearer ${SECRET}`],
    ['accessToken', `${SECRET} x`],
    ['accessToken', 42],
    ['turnPassword', ''],
    ['roomSecret', ['x', SECRET]],
  ])('%s = %j', (setting, value) => {
    for (const err of [
      configError(() => resolve({ options: { [setting]: value } as never })),
      configError(() => resolve({ file: { path: '/s.json', data: { [setting]: value } } })),
    ]) {
      expect(err.message).toMatch(new RegExp(`^setting '${setting}' from`));
      expect(err.message).not.toContain(SECRET);
      expect(JSON.stringify(err.details)).not.toContain(SECRET);
    }
  });

  it('hides the value but keeps its type', () => {
    expect(configError(() => resolve({ options: { roomSecret: 42 as never } })).message).toBe(
      "setting 'roomSecret' from options must be a string, got a number (value hidden)",
    );
  });

  it('masks credentials inside shown URLs', () => {
    const err = configError(() => resolve({ options: { turnUrl: `turn:user:${SECRET}@host:99999` } }));
    expect(err.message).toContain('turn:***@host:99999');
    expect(err.message).not.toContain(SECRET);
    const err2 = configError(() => resolve({ options: { hubUrl: `ftp://h/hub?access_token=${SECRET}` } }));
    expect(err2.message).not.toContain(SECRET);
  });

  it('redactSettings hides secrets for logging', () => {
    const s = resolve({ options: { accessToken: SECRET, turnUrl: `turn:u:${SECRET}@h`, turnUsername: 'u', turnPassword: SECRET, roomSecret: SECRET } });
    const shown = JSON.stringify(redactSettings(s));
    expect(shown).not.toContain(SECRET);
    expect(redactSettings(s)).toMatchObject({ accessToken: '(hidden)', turnUsername: 'u', turnUrl: 'turn:***@h' });
    expect(s.accessToken).toBe(SECRET); // the original is untouched
  });

  it('does not quote a broken config file (it may hold secrets)', async () => {
    const pad = 'x'.repeat(200);
    for (const text of [`{"accessToken": ${SECRET}}`, `{"a": "${pad}", "accessToken": ${SECRET}, "b": "${pad}"}`, `{"roomSecret": "${SECRET}\u0001"}`]) {
      const err = await configErrorAsync(loadSettings({ configFile: writeConfig(text), env: {}, defaults: DEFAULTS }));
      expect(err.message).toMatch(/not valid JSON \(.+\)$/);
      expect(err.message).not.toContain(SECRET.slice(1));
      expect(err.cause).toBeUndefined(); // the SyntaxError would quote it too
    }
  });
});

describe('config file errors', () => {
  const load = (configFile: string) => loadSettings({ configFile, env: {}, defaults: DEFAULTS });

  it('missing file', async () => {
    const path = join(dir, 'nope.json');
    const err = await configErrorAsync(load(path));
    expect(err.message).toBe(`cannot read config file ${path}: ENOENT`);
    expect(err.details).toEqual({ source: 'file', file: path });
  });

  it('missing file named by RTC_AGENT_CONFIG', async () => {
    const err = await configErrorAsync(loadSettings({ env: { RTC_AGENT_CONFIG: join(dir, 'gone.json') } }));
    expect(err.message).toMatch(/^cannot read config file .*gone\.json: ENOENT$/);
  });

  it('a directory', async () => {
    expect((await configErrorAsync(load(dir))).message).toMatch(/^cannot read config file .*: EISDIR$/);
  });

  it('bad JSON, with line and column', async () => {
    const path = writeConfig('{\n  "name": "a",\n}');
    const err = await configErrorAsync(load(path));
    expect(err.message).toMatch(new RegExp(`^config file ${path.replace(/[.\\]/g, '\\$&')}: not valid JSON \\(Expected double-quoted property name at line 3 column 1\\)$`));
  });

  it('not an object', async () => {
    const err = await configErrorAsync(load(writeConfig([1, 2])));
    expect(err.message).toMatch(/: must contain a JSON object of settings, got an array$/);
  });

  it('unknown key, with a suggestion for typos and other spellings', async () => {
    const path = writeConfig({ hubUlr: 'http://x/hub' });
    const err = await configErrorAsync(load(path));
    expect(err.message).toBe(`config file ${path}: unknown setting 'hubUlr' (did you mean 'hubUrl'?)`);
    expect(err.details).toEqual({ setting: 'hubUlr', source: 'file', file: path });
    expect((await configErrorAsync(load(writeConfig({ ice_connection_timeout_ms: 1 })))).message).toMatch(/did you mean 'iceConnectionTimeoutMs'/);
    expect((await configErrorAsync(load(writeConfig({ RTC_AGENT_TRY_NATIVE: true })))).message).toMatch(/did you mean 'tryNative'/);
    expect((await configErrorAsync(load(writeConfig({ __proto__x: 1, constructor: 1 })))).message).toMatch(/unknown setting/);
  });

  it('wrong type', async () => {
    const path = writeConfig({ maxReconnectAttempts: '5' });
    const err = await configErrorAsync(load(path));
    expect(err.message).toBe(`setting 'maxReconnectAttempts' from config file ${path} must be an integer ≥ 0, got "5"`);
  });
});

describe('SETTINGS and settingsTable', () => {
  it('documents every setting exactly once, with its env var', () => {
    expect(SETTINGS.map((s) => s.name).sort()).toEqual([...SETTING_NAMES].sort());
    expect(new Set(SETTINGS.map((s) => s.env)).size).toBe(SETTINGS.length);
    expect(SETTINGS.find((s) => s.name === 'iceConnectionTimeoutMs')).toMatchObject({ env: 'RTC_AGENT_ICE_CONNECTION_TIMEOUT_MS', default: '`15000`' });
    expect(SETTINGS.filter((s) => s.secret).map((s) => s.name).sort()).toEqual(['accessToken', 'roomSecret', 'turnPassword']);
    for (const s of SETTINGS) expect(s.description.length, s.name).toBeGreaterThan(10);
  });

  it('renders a markdown table with one row per setting', () => {
    const lines = settingsTable().split('\n');
    expect(lines[0]).toMatch(/^\| Setting \| Environment variable \|/);
    expect(lines).toHaveLength(2 + SETTINGS.length);
    expect(lines.find((l) => l.startsWith('| `logLevel`'))).toContain('fatal \\| error');
    for (const line of lines.slice(2)) expect(line.replace(/\\\|/g, '').split('|')).toHaveLength(7);
  });
});

describe('properties', () => {
  const envVars = SETTINGS.map((s) => s.env);

  it('resolveSettings throws nothing but RtcAgentError(CONFIG) for arbitrary env strings', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom(...envVars), fc.oneof(fc.string(), fc.constantFrom('0', '1', 'yes', '-1', '50000-50100', 'stun:a', 'turn:b', 'relay', ' '))), (env) => {
        try {
          resolve({ env });
        } catch (err) {
          return err instanceof RtcAgentError && err.code === ErrorCode.CONFIG;
        }
        return true;
      }),
      { numRuns: 2000 },
    );
  });

  it('…and for arbitrary JSON in a config file or options', () => {
    const keys = fc.oneof(fc.constantFrom(...SETTING_NAMES), fc.string());
    fc.assert(
      fc.property(fc.oneof(fc.dictionary(keys, fc.jsonValue()), fc.jsonValue()), (data) => {
        for (const layers of [{ file: { path: '/p.json', data } }, { options: data as never }]) {
          try {
            resolve(layers);
          } catch (err) {
            if (!(err instanceof RtcAgentError && err.code === ErrorCode.CONFIG)) return false;
          }
        }
        return true;
      }),
      { numRuns: 1000 },
    );
  });

  it('never shows a secret value in an error', () => {
    const secretValue = fc.string().map((s) => `S3CR3T${s}`);
    const secretName = fc.constantFrom('accessToken' as const, 'turnPassword' as const, 'roomSecret' as const);
    fc.assert(
      fc.property(secretValue, secretName, fc.constantFrom('options', 'file', 'env'), fc.boolean(), (value, name, layer, withTurn) => {
        const extra = withTurn ? { turnUrl: 'turn:h' } : {};
        const envVar = SETTINGS.find((s) => s.name === name)!.env;
        const layers =
          layer === 'env'
            ? { env: { [envVar]: value }, options: extra }
            : layer === 'file'
              ? { file: { path: '/s.json', data: { [name]: value, ...extra } } }
              : { options: { [name]: value, ...extra } };
        try {
          resolve(layers);
        } catch (err) {
          const text = `${(err as Error).message} ${JSON.stringify((err as RtcAgentError).details)}`;
          return err instanceof RtcAgentError && !text.includes('S3CR3T');
        }
        return true;
      }),
      { numRuns: 1000 },
    );
  });
});
