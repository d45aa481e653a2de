/**
 * A value now, or later: what sealing and opening return (a Promise exactly when the AEAD is
 * asynchronous — WebCrypto — and a plain value with Node's synchronous AEAD, so the common Node
 * path costs no promise hop per frame).
 */
export type MaybePromise<T> = T | Promise<T>;

export function isPromise<T>(value: MaybePromise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}
