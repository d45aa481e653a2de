/**
 * `rtc-agent token`: mints an HS256 access token for a hub started with `--jwt-secret`, with the
 * claims the hub reads (src/hub/auth.ts): `sub` (the user), `name`, `rooms`, `iat`, `exp`. Prints
 * the token alone on stdout, so `--token "$(rtc-agent token …)"` works.
 */
import { Command, Option } from 'commander';
import { ErrorCode, RtcAgentError } from '../../errors.js';
import type { CliContext } from '../context.js';
import { collect, parseDurationMs, parseRoom } from '../parse.js';

interface TokenFlags {
  secret?: string;
  user: string;
  name?: string;
  room?: string[];
  expires: string;
  issuer?: string;
  audience?: string;
  json?: boolean;
}

/** Tokens expire after an hour unless told otherwise: a leaked one stops working soon. */
export const DEFAULT_TOKEN_LIFETIME = '1h';
/** What the hub requires of an HS256 secret (hub/options.ts). */
const MIN_SECRET_CHARS = 16;

/** A room name, or `*` (every room). */
function parseRoomClaim(value: string): string {
  return value === '*' ? value : parseRoom(value);
}

function parseExpires(value: string): string {
  if (value !== 'never') parseDurationMs(value);
  return value;
}

export function makeTokenCommand(ctx: CliContext): Command {
  const cmd = new Command('token')
    .addOption(new Option('--secret <secret>', "the hub's --jwt-secret (prefer the env var)").env('RTC_AGENT_JWT_SECRET'))
    .requiredOption('--user <id>', "the user id (the 'sub' claim; the hub's peer identity for TOFU and 'forbidden')")
    .option('--name <name>', "display name (the 'name' claim; default: the user id)")
    .option('--room <room>', "a room the token may join (repeatable; '*' for any; default: any)", (v: string, prev: string[] | undefined) => collect(parseRoomClaim(v), prev))
    .addOption(new Option('--expires <duration>', "lifetime, e.g. 15m, 12h, 7d, or 'never'").default(DEFAULT_TOKEN_LIFETIME).argParser(parseExpires))
    .option('--issuer <iss>', "the 'iss' claim (for a hub with --jwt-issuer)")
    .option('--audience <aud>', "the 'aud' claim (for a hub with --jwt-audience)")
    .option('--json', 'print {token, claims} instead of the token alone')
    .addHelpText(
      'after',
      `
Example:
  export RTC_AGENT_JWT_SECRET=$(openssl rand -hex 32)
  rtc-agent hub --port 8080 &
  rtc-agent chat --room ops --token "$(rtc-agent token --user alice --room ops)"`,
    );
  return cmd.action(async (flags: TokenFlags) => {
    const secret = flags.secret;
    if (secret === undefined || secret === '') throw new RtcAgentError(ErrorCode.CONFIG, '--secret (or env RTC_AGENT_JWT_SECRET) is required: the secret the hub was started with');
    if (secret.length < MIN_SECRET_CHARS) throw new RtcAgentError(ErrorCode.CONFIG, `--secret must be at least ${MIN_SECRET_CHARS} characters, as the hub requires`);
    if (flags.user.trim() === '') throw new RtcAgentError(ErrorCode.CONFIG, '--user must not be empty');
    const { SignJWT } = await import('jose');
    const claims: Record<string, unknown> = {};
    if (flags.name !== undefined) claims.name = flags.name;
    if (flags.room !== undefined) claims.rooms = flags.room;
    let jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setSubject(flags.user).setIssuedAt();
    if (flags.expires !== 'never') jwt = jwt.setExpirationTime(Math.floor((Date.now() + parseDurationMs(flags.expires)) / 1000));
    if (flags.issuer !== undefined) jwt = jwt.setIssuer(flags.issuer);
    if (flags.audience !== undefined) jwt = jwt.setAudience(flags.audience);
    const token = await jwt.sign(new TextEncoder().encode(secret));
    if (flags.json) {
      const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as unknown;
      ctx.stdout.write(`${JSON.stringify({ token, claims: payload })}\n`);
    } else ctx.stdout.write(`${token}\n`);
  });
}
