/**
 * One WebSocket to one JSON-RPC 2.0 server: opening it (bounded by an AbortSignal), requests
 * matched to their responses by id (each bounded by a timeout, all rejected when the socket goes),
 * and inbound requests and notifications handed to the client. No Node APIs: the socket comes from
 * an injected factory (`ws` in Node, the global WebSocket in browsers).
 */
import { unref } from '../engine/timers.js';
import { ErrorCode, RtcAgentError, parseErrorCode } from '../errors.js';
import {
  failure,
  fromJsonRpcError,
  notification,
  parseFrame,
  request,
  success,
  JsonRpcErrorCode,
  type JsonRpcInbound,
  type JsonRpcParams,
  type JsonRpcRequest,
} from '../protocol/jsonrpc/messages.js';

/** The part of the WHATWG WebSocket the client uses; `ws`'s WebSocket and browsers' both fit. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

/**
 * Makes a WebSocket. `headers` carries the token as `Authorization: Bearer …` (Node); a factory
 * for browsers, which cannot set headers, ignores them and the client is told `tokenInQuery`.
 */
export type WebSocketFactory = (url: string, options: { headers: Record<string, string> }) => WebSocketLike;

const OPEN = 1;

/** How long one request may wait for its response (the hub answers in milliseconds; a relay's backpressure takes longer). */
export const DEFAULT_RPC_CALL_TIMEOUT_MS = 30_000;

/** Why a socket could not open, in words that say what to do. */
export function classifyOpenError(event: unknown, url: string): RtcAgentError {
  const raw = describeEvent(event);
  const status = /Unexpected server response: (\d{3})/.exec(raw)?.[1];
  if (status === '401') return new RtcAgentError(ErrorCode.UNAUTHORIZED, `JSON-RPC server ${url} refused the token (HTTP 401); give a valid accessToken`);
  if (status === '403') return new RtcAgentError(ErrorCode.FORBIDDEN, `JSON-RPC server ${url} refused the connection (HTTP 403: origin or token not allowed)`);
  if (status === '404') {
    return new RtcAgentError(ErrorCode.HUB_UNREACHABLE, `cannot reach JSON-RPC server ${url}: nothing there (HTTP 404); rtc-agent hub serves JSON-RPC at ws://HOST:PORT/rpc`);
  }
  if (status !== undefined) return new RtcAgentError(ErrorCode.HUB_UNREACHABLE, `cannot reach JSON-RPC server ${url}: HTTP ${status} instead of a WebSocket`);
  return new RtcAgentError(ErrorCode.HUB_UNREACHABLE, `cannot reach JSON-RPC server ${url}: ${raw || 'the WebSocket did not open'}`);
}

function describeEvent(event: unknown): string {
  if (event instanceof Error) return event.message;
  if (typeof event === 'object' && event !== null) {
    const e = event as { message?: unknown; error?: unknown };
    if (e.error instanceof Error) return e.error.message;
    if (typeof e.message === 'string') return e.message;
  }
  return '';
}

/** The error a close frame from the server carries (`RTC_ERR_…: message`), or a plain HUB_UNREACHABLE. */
export function closeError(code: number, reason: string, url: string): RtcAgentError {
  const stable = parseErrorCode(reason);
  const text = reason.replace(/^RTC_ERR_[A-Z_]+:\s*/, '');
  if (stable !== undefined) return new RtcAgentError(stable, text || reason, { details: { closeCode: code } });
  return new RtcAgentError(ErrorCode.HUB_UNREACHABLE, `JSON-RPC server ${url} closed the connection (code ${code}${reason ? `: ${reason}` : ''})`, { details: { closeCode: code } });
}

interface Pending {
  method: string;
  resolve(value: unknown): void;
  reject(err: RtcAgentError): void;
  timer: ReturnType<typeof setTimeout>;
}

export interface RpcLinkHandlers {
  /** A request or notification from the server; return false for a method this client does not know. */
  message(method: string, params: unknown): boolean;
  /** The socket closed (after it had opened), with the server's code and reason. */
  closed(code: number, reason: string): void;
}

export class RpcLink {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  /** When something last arrived (keep-alive). */
  lastReceivedAt = Date.now();
  private handlers: RpcLinkHandlers | null = null;
  private ended = false;

  private constructor(
    private readonly ws: WebSocketLike,
    readonly url: string,
    readonly index: number,
  ) {}

  /** Opens a socket, or fails when it errors, closes or `signal` aborts first. */
  static open(factory: WebSocketFactory, url: string, index: number, headers: Record<string, string>, signal: AbortSignal): Promise<RpcLink> {
    return new Promise((resolve, reject) => {
      let ws: WebSocketLike;
      try {
        ws = factory(url, { headers });
      } catch (err) {
        reject(new RtcAgentError(ErrorCode.HUB_UNREACHABLE, `cannot open a WebSocket to ${url}: ${(err as Error).message}`, { cause: err }));
        return;
      }
      let error: RtcAgentError | undefined;
      const onAbort = (): void => {
        settle(new RtcAgentError(ErrorCode.HUB_UNREACHABLE, `cannot reach JSON-RPC server ${url}: no connection within the timeout`, { cause: signal.reason }));
        try {
          ws.close();
        } catch {
          // closing a socket that never opened may throw in some implementations
        }
      };
      const settle = (result: RpcLink | RtcAgentError): void => {
        signal.removeEventListener('abort', onAbort);
        ws.onopen = ws.onerror = ws.onclose = null;
        if (result instanceof RpcLink) resolve(result);
        else reject(result);
      };
      ws.onerror = (event) => {
        error ??= classifyOpenError(event, url);
      };
      ws.onclose = (event) => settle(error ?? closeError(event.code, event.reason, url));
      ws.onopen = () => settle(new RpcLink(ws, url, index));
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Starts delivering what arrives; call once, right after open. */
  attach(handlers: RpcLinkHandlers): void {
    this.handlers = handlers;
    this.ws.onmessage = (event) => this.onMessage(event.data);
    this.ws.onerror = () => undefined;
    this.ws.onclose = (event) => this.end(event.code, event.reason);
  }

  get open(): boolean {
    return !this.ended && this.ws.readyState === OPEN;
  }

  /** Sends a request; resolves with its result, rejects with the server's error (as an RtcAgentError). */
  call<T = unknown>(method: string, params: JsonRpcParams, timeoutMs = DEFAULT_RPC_CALL_TIMEOUT_MS): Promise<T> {
    if (!this.open) return Promise.reject(new RtcAgentError(ErrorCode.HUB_UNREACHABLE, `JSON-RPC server ${this.url} is not connected; ${method} not sent`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RtcAgentError(ErrorCode.TIMEOUT, `JSON-RPC server ${this.url} did not answer ${method} within ${timeoutMs} ms`));
      }, timeoutMs);
      unref(timer);
      this.pending.set(id, { method, resolve: resolve as (v: unknown) => void, reject, timer });
      this.sendMessage(request(id, method, params));
    });
  }

  notify(method: string, params: JsonRpcParams): void {
    if (this.open) this.sendMessage(notification(method, params));
  }

  private sendMessage(message: unknown): void {
    try {
      this.ws.send(JSON.stringify(message));
    } catch {
      // A socket closing under us: its close event rejects what is pending.
    }
  }

  private onMessage(data: unknown): void {
    this.lastReceivedAt = Date.now();
    const text =
      typeof data === 'string'
        ? data
        : data instanceof ArrayBuffer
          ? new TextDecoder().decode(new Uint8Array(data))
          : ArrayBuffer.isView(data)
            ? new TextDecoder().decode(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
            : String(data);
    const frame = parseFrame(text);
    if (frame.kind === 'single') this.onEntry(frame.entry);
    else if (frame.kind === 'batch') for (const entry of frame.entries) this.onEntry(entry);
    // Not JSON, or an empty batch, from the server: there is nobody to answer; it is ignored.
  }

  private onEntry(entry: JsonRpcInbound): void {
    switch (entry.kind) {
      case 'response': {
        const { id } = entry.response;
        const pending = typeof id === 'number' ? this.pending.get(id) : undefined;
        if (!pending) return;
        this.pending.delete(id as number);
        clearTimeout(pending.timer);
        if ('error' in entry.response) pending.reject(fromJsonRpcError(entry.response.error, pending.method));
        else pending.resolve(entry.response.result);
        return;
      }
      case 'request':
        this.onRequest(entry.request);
        return;
      case 'invalid':
        // Answering a broken message from the server could start an error ping-pong: dropped.
        return;
    }
  }

  private onRequest(req: JsonRpcRequest): void {
    const known = this.handlers?.message(req.method, req.params) ?? false;
    if (!('id' in req) || req.id === undefined) return;
    // Some servers send offers and candidates as requests: they get an empty result.
    if (known) this.sendMessage(success(req.id, null));
    else this.sendMessage(failure(req.id, { code: JsonRpcErrorCode.MethodNotFound, message: `Method not found: '${req.method.slice(0, 64)}'` }));
  }

  /** Closes the socket (the client's own close); pending requests are rejected with `error`. Idempotent. */
  close(code: number, reason: string, error: RtcAgentError): void {
    if (this.ended) return;
    this.ended = true;
    this.rejectAll(error);
    try {
      this.ws.close(code, reason);
    } catch {
      // already closing
    }
  }

  private end(code: number, reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.rejectAll(closeError(code, reason, this.url));
    this.handlers?.closed(code, reason);
  }

  private rejectAll(error: RtcAgentError): void {
    for (const pending of this.pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(error);
    }
    this.pending.clear();
  }
}
