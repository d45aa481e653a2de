/** Small HTTP helpers for the control API: JSON replies, the error shape, bounded body reading. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode, RtcAgentError } from '../errors.js';

/** The body of every error reply: `{ "error": { "code": "RTC_ERR_…", "message": "…" } }`. */
export interface ApiErrorBody {
  error: { code: string; message: string };
}

/** The HTTP status that fits an error code. */
export function httpStatusFor(code: string): number {
  switch (code) {
    case ErrorCode.BAD_REQUEST:
    case ErrorCode.INVALID_ROOM_NAME:
    case ErrorCode.CONFIG:
      return 400;
    case ErrorCode.UNAUTHORIZED:
      return 401;
    case ErrorCode.FORBIDDEN:
      return 403;
    case ErrorCode.NOT_IN_ROOM:
    case ErrorCode.UNKNOWN_PEER:
    case ErrorCode.PEER_NOT_IN_ROOM:
      return 404;
    case ErrorCode.ROOM_FULL:
    case ErrorCode.TOO_MANY_ROOMS:
      return 409;
    case ErrorCode.MESSAGE_TOO_LARGE:
      return 413;
    case ErrorCode.RATE_LIMITED:
      return 429;
    case ErrorCode.HUB_UNREACHABLE:
    case ErrorCode.BUFFER_FULL:
    case ErrorCode.CLOSED:
    case ErrorCode.SHUTTING_DOWN:
    case ErrorCode.LINK_NOT_OPEN:
    case ErrorCode.P2P_FAILED:
      return 503;
    case ErrorCode.SEND_TIMEOUT:
    case ErrorCode.TIMEOUT:
      return 504;
    default:
      return 500;
  }
}

/** An error with an explicit HTTP status (404 for unknown routes, 405 for wrong methods). */
export class HttpError extends RtcAgentError {
  constructor(
    readonly status: number,
    code: ErrorCode,
    message: string,
  ) {
    super(code, message);
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = `${JSON.stringify(body)}\n`;
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store', ...headers });
  res.end(text);
}

/** Replies with the error shape; non-RtcAgentErrors become RTC_ERR_INTERNAL without their details. */
export function sendError(res: ServerResponse, err: unknown, headers: Record<string, string> = {}): void {
  let status = 500;
  let body: ApiErrorBody = { error: { code: ErrorCode.INTERNAL, message: 'internal error; the daemon log has the details' } };
  if (err instanceof HttpError) {
    status = err.status;
    body = { error: { code: err.code, message: err.message } };
  } else if (err instanceof RtcAgentError) {
    status = httpStatusFor(err.code);
    body = { error: { code: err.code, message: err.message } };
  }
  sendJson(res, status, body, headers);
}

/**
 * Reads a request body, refusing anything over `limitBytes` (declared or actual) without buffering
 * it. The rest of an oversize body is drained so the connection can answer cleanly.
 */
export function readBody(req: IncomingMessage, limitBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const tooLarge = (): RtcAgentError => new HttpError(413, ErrorCode.MESSAGE_TOO_LARGE, `request body exceeds ${limitBytes} bytes`);
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limitBytes) {
      req.resume();
      reject(tooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limitBytes) chunks.push(chunk);
    });
    req.on('end', () => (size > limitBytes ? reject(tooLarge()) : resolve(Buffer.concat(chunks))));
    req.on('error', reject);
  });
}

/** Reads and parses a JSON object body; an empty body is `{}`. */
export async function readJsonObject(req: IncomingMessage, limitBytes: number): Promise<Record<string, unknown>> {
  const raw = (await readBody(req, limitBytes)).toString('utf8');
  if (raw.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (err) {
    throw new RtcAgentError(ErrorCode.BAD_REQUEST, `request body is not valid JSON: ${(err as Error).message.replace(/,\s*".*is not valid JSON$/s, '')}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new RtcAgentError(ErrorCode.BAD_REQUEST, 'request body must be a JSON object');
  return value as Record<string, unknown>;
}
