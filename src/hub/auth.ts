import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { jwtVerify, errors as joseErrors, type JWTPayload } from 'jose';
import { ErrorCode, RtcAgentError } from '../errors.js';
import type { HubAuthOptions } from './options.js';

/** Who a connection belongs to, from the token. Null when the hub runs without auth. */
export interface AuthUser {
  userId: string;
  name: string;
  /** Room names the token allows, or '*' for any. */
  rooms: Set<string> | '*';
  /**
   * ms since the epoch at which the token expires, if it does: its `exp`, or `iat` plus the hub's
   * maximum token age, whichever comes first. The hub closes the connection then.
   */
  expiresAt: number | undefined;
}

/**
 * The one message for a token past its `exp` or the hub's maximum age, on negotiate and in the
 * Close sent to a live connection (`RTC_ERR_UNAUTHORIZED: token expired`): clients match on it.
 */
export const TOKEN_EXPIRED = 'token expired';

/** The error a connection is closed with when its token expires. */
export function tokenExpiredError(): RtcAgentError {
  return new RtcAgentError(ErrorCode.UNAUTHORIZED, TOKEN_EXPIRED, { details: { expired: true } });
}

/** True for the error {@link TokenVerifier.verify} throws for an authentic but expired token. */
export function isExpiredTokenError(err: unknown): err is RtcAgentError {
  return err instanceof RtcAgentError && err.code === ErrorCode.UNAUTHORIZED && err.details?.expired === true;
}

/** Verifies bearer tokens (HS256 with a secret, RS256/ES256 with a public key) with jose. */
export class TokenVerifier {
  private readonly key: KeyObject;
  private readonly algorithms: string[];

  constructor(private readonly options: HubAuthOptions) {
    if (options.jwtSecret !== undefined) {
      this.key = createSecretKey(Buffer.from(options.jwtSecret, 'utf8'));
      this.algorithms = ['HS256'];
    } else if (options.jwtPublicKey !== undefined) {
      try {
        this.key = createPublicKey(options.jwtPublicKey);
      } catch (err) {
        throw new RtcAgentError(ErrorCode.CONFIG, `hub setting 'auth.jwtPublicKey' is not a PEM public key: ${(err as Error).message}`, {
          cause: err,
          details: { setting: 'auth.jwtPublicKey' },
        });
      }
      const type = this.key.asymmetricKeyType;
      if (type === 'rsa') this.algorithms = ['RS256'];
      else if (type === 'ec') this.algorithms = ['ES256'];
      else {
        throw new RtcAgentError(ErrorCode.CONFIG, `hub setting 'auth.jwtPublicKey' must be an RSA or EC (P-256) key, got ${String(type)}`, {
          details: { setting: 'auth.jwtPublicKey' },
        });
      }
    } else {
      throw new RtcAgentError(ErrorCode.CONFIG, 'hub auth needs jwtSecret or jwtPublicKey');
    }
  }

  /**
   * Checks signature and claims. An authentic token that is only too old fails with an error whose
   * details carry `expired: true` and the token's `userId`, so the hub can tell "this user's token
   * ran out" (close that user's connection) from "not this user" (refuse).
   */
  async verify(token: string): Promise<AuthUser> {
    let payload: JWTPayload;
    const maxAgeMs = this.options.maxAgeMs;
    try {
      const verifyOptions: Parameters<typeof jwtVerify>[2] = { algorithms: this.algorithms };
      if (this.options.issuer !== undefined) verifyOptions.issuer = this.options.issuer;
      if (this.options.audience !== undefined) verifyOptions.audience = this.options.audience;
      // jose then also requires `iat` (and refuses one in the future).
      if (maxAgeMs !== undefined) verifyOptions.maxTokenAge = maxAgeMs / 1000;
      ({ payload } = await jwtVerify(token, this.key, verifyOptions));
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) {
        // jose checked the signature before the time claims, so this payload is authentic.
        const sub = err.payload.sub;
        throw new RtcAgentError(ErrorCode.UNAUTHORIZED, TOKEN_EXPIRED, { cause: err, details: { expired: true, userId: typeof sub === 'string' ? sub : undefined } });
      }
      throw new RtcAgentError(ErrorCode.UNAUTHORIZED, describeJoseError(err, maxAgeMs !== undefined), { cause: err });
    }
    if (typeof payload.sub !== 'string' || payload.sub.length === 0) {
      throw new RtcAgentError(ErrorCode.UNAUTHORIZED, "token has no 'sub' claim");
    }
    const expiresAt = expiryOf(payload, maxAgeMs);
    // jose counts whole seconds (and lets a token live up to a second past its max age); the hub
    // closes live connections at the exact ms, so a token is valid here exactly while now < expiresAt.
    if (expiresAt !== undefined && Date.now() >= expiresAt) {
      throw new RtcAgentError(ErrorCode.UNAUTHORIZED, TOKEN_EXPIRED, { details: { expired: true, userId: payload.sub } });
    }
    const name = typeof payload.name === 'string' && payload.name.length > 0 ? payload.name : payload.sub;
    return { userId: payload.sub, name, rooms: parseRoomsClaim(payload.rooms), expiresAt };
  }
}

/** `exp`, or `iat` + max age, whichever is earlier; undefined for a token that never expires. */
function expiryOf(payload: JWTPayload, maxAgeMs: number | undefined): number | undefined {
  const byExp = typeof payload.exp === 'number' ? payload.exp * 1000 : undefined;
  const byAge = maxAgeMs !== undefined && typeof payload.iat === 'number' ? payload.iat * 1000 + maxAgeMs : undefined;
  if (byExp === undefined) return byAge;
  if (byAge === undefined) return byExp;
  return Math.min(byExp, byAge);
}

/**
 * `rooms` may be an array of names, or a string of names separated by spaces or commas; `*` allows
 * every room. A token without the claim may join any room: the claim restricts, its absence doesn't.
 */
export function parseRoomsClaim(claim: unknown): Set<string> | '*' {
  if (claim === undefined || claim === null) return '*';
  const names = Array.isArray(claim)
    ? claim.filter((x): x is string => typeof x === 'string')
    : typeof claim === 'string'
      ? claim.split(/[\s,]+/).filter(Boolean)
      : [];
  if (names.includes('*')) return '*';
  return new Set(names);
}

export function mayJoin(user: AuthUser | null, room: string): boolean {
  if (user === null || user.rooms === '*') return true;
  return user.rooms.has(room);
}

function describeJoseError(err: unknown, maxAge: boolean): string {
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (maxAge && err.claim === 'iat' && err.reason === 'missing') return "token has no 'iat' claim (the hub has a maximum token age, --jwt-max-age)";
    return `token claim '${err.claim}' is invalid: ${err.reason}`;
  }
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'token algorithm not allowed';
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'token signature is invalid';
  if (err instanceof joseErrors.JWSInvalid || err instanceof joseErrors.JWTInvalid) return 'token is malformed';
  return 'token is invalid';
}

/** The bearer token from `Authorization: Bearer …` or, for browsers and SSE, the `access_token` query. */
/** The user a request's token names; null when the hub has no auth. Throws UNAUTHORIZED without a valid token. */
export async function authenticateRequest(verifier: TokenVerifier | null, req: IncomingMessage, url: URL): Promise<AuthUser | null> {
  if (!verifier) return null;
  const token = extractToken(req, url);
  if (token === undefined) throw new RtcAgentError(ErrorCode.UNAUTHORIZED, 'a bearer token is required');
  return verifier.verify(token);
}

/** With auth on, every request of a connection must carry a valid token of the connection's user. */
export async function checkSameUser(verifier: TokenVerifier | null, req: IncomingMessage, url: URL, owner: AuthUser | null): Promise<true | RtcAgentError> {
  if (!verifier) return true;
  try {
    const user = await authenticateRequest(verifier, req, url);
    if (user?.userId !== owner?.userId) return new RtcAgentError(ErrorCode.FORBIDDEN, 'token belongs to another user');
    return true;
  } catch (err) {
    return err as RtcAgentError;
  }
}

export function extractToken(req: IncomingMessage, url: URL): string | undefined {
  const header = req.headers.authorization;
  if (typeof header === 'string') {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (match?.[1]) return match[1];
  }
  const query = url.searchParams.get('access_token');
  return query !== null && query.length > 0 ? query : undefined;
}
