/**
 * Where the agent's hub token comes from on each (re)connect. The SignalR client asks for a token
 * on every negotiate and reconnect; when the hub closes a connection because its token expired,
 * the reconnect then carries a fresh one: from a callback, from a file rewritten by whatever
 * renews tokens, or from the environment read again.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { envNameOf, type AgentSettings } from '../config/settings-schema.js';
import { bearerToken, Invalid } from '../config/value-kinds.js';
import { ErrorCode, RtcAgentError } from '../errors.js';
import type { Logger } from '../log/logger.js';

/** What the SignalR client calls before each negotiate and connect. */
export type AccessTokenFactory = () => string | Promise<string>;

export interface TokenSourceInput {
  settings: Pick<AgentSettings, 'accessToken' | 'accessTokenFile'>;
  /** The environment the settings were read from. */
  env: NodeJS.ProcessEnv;
  /** True when `accessToken` was passed as an option: it then beats the environment, as always. */
  tokenFromOptions: boolean;
  /** AgentOptions.accessTokenFactory. */
  factory?: AccessTokenFactory | undefined;
  log: Logger;
}

const ACCESS_TOKEN_ENV = envNameOf('accessToken');

/**
 * A static token, a factory called on every (re)connect, or nothing. In order: the library
 * callback; `accessTokenFile` (read each time); a token that came from `RTC_AGENT_ACCESS_TOKEN`
 * (read from the environment each time, falling back to the first value if it is unset later);
 * the `accessToken` setting as is.
 */
export function accessTokenSource(input: TokenSourceInput): string | AccessTokenFactory | undefined {
  const { settings, env, log } = input;
  if (settings.accessToken !== undefined && settings.accessTokenFile !== undefined) {
    throw new RtcAgentError(ErrorCode.CONFIG, "settings 'accessToken' and 'accessTokenFile' are both set; give one of them", {
      details: { setting: 'accessTokenFile' },
    });
  }
  if (input.factory) {
    const factory = input.factory;
    return reporting(log, async () => checked(await factory(), 'accessTokenFactory returned a token that', 'accessTokenFactory'));
  }
  const file = settings.accessTokenFile;
  if (file !== undefined) return reporting(log, () => readTokenFile(file));
  const fromEnv = env[ACCESS_TOKEN_ENV]?.trim();
  if (!input.tokenFromOptions && fromEnv !== undefined && fromEnv !== '') {
    const first = settings.accessToken;
    return reporting(log, () => {
      const now = env[ACCESS_TOKEN_ENV]?.trim();
      if (now === undefined || now === '') return first ?? '';
      return checked(now, `env ${ACCESS_TOKEN_ENV}`, 'accessToken');
    });
  }
  return settings.accessToken;
}

/** Reads the token file: its first line, trimmed. Errors name the file and never show its content. */
export async function readTokenFile(file: string): Promise<string> {
  const path = resolve(file);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new RtcAgentError(ErrorCode.CONFIG, `setting 'accessTokenFile': cannot read ${path}: ${code ?? (err as Error).message}`, {
      cause: err,
      details: { setting: 'accessTokenFile', file: path },
    });
  }
  const token = text.split(/\r?\n/)[0]?.trim() ?? '';
  if (token === '') {
    throw new RtcAgentError(ErrorCode.CONFIG, `setting 'accessTokenFile': ${path} is empty`, { details: { setting: 'accessTokenFile', file: path } });
  }
  return checked(token, `setting 'accessTokenFile': the token in ${path}`, 'accessTokenFile');
}

/** Validates a token like the accessToken setting, without ever quoting it. */
function checked(token: unknown, what: string, setting: string): string {
  if (typeof token !== 'string') throw new RtcAgentError(ErrorCode.CONFIG, `${what} is not a string`, { details: { setting } });
  try {
    return bearerToken.check(token);
  } catch (err) {
    if (!(err instanceof Invalid)) throw err;
    throw new RtcAgentError(ErrorCode.CONFIG, `${what} ${err.why}`, { details: { setting } });
  }
}

/**
 * Logs a failure once per attempt: the SignalR client turns it into a failed (re)connect attempt
 * and retries with backoff, so a token file being rewritten or renewed late heals by itself.
 *
 * The client wraps what the factory throws in its own error and keeps only the text
 * ("Failed to complete negotiation with the server: …"), so the error thrown carries the stable
 * code in its text (`RTC_ERR_CONFIG: …`), where classifyHubError finds it again.
 */
function reporting(log: Logger, factory: () => string | Promise<string>): AccessTokenFactory {
  return async () => {
    try {
      return await factory();
    } catch (err) {
      const e = err instanceof RtcAgentError ? err : new RtcAgentError(ErrorCode.CONFIG, `cannot get an access token: ${(err as Error)?.message ?? String(err)}`, { cause: err });
      log.warn({ code: e.code, reason: e.message }, 'no access token for the hub connection');
      throw new TokenUnavailableError(e);
    }
  };
}

/** What the factory throws: `String(err)` is `CODE: message`, and `cause` is the RtcAgentError. */
class TokenUnavailableError extends Error {
  constructor(readonly error: RtcAgentError) {
    super(error.toWire(), { cause: error });
    this.name = 'TokenUnavailable';
  }
  override toString(): string {
    return this.message;
  }
}
