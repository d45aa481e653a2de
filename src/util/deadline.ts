/**
 * A bound on work that can hang: an AbortSignal that aborts `ms` from now or when any parent
 * signal does, whichever comes first; dispose() drops its timer and its listeners on the parents
 * once the work is over.
 *
 * Not `AbortSignal.any([..., AbortSignal.timeout(ms)])`: Node 20 holds a timeout signal inside an
 * any() only weakly, so a garbage collection before it fires takes the bound away
 * (nodejs/node#57736). It did here: a hub that accepted and never answered held a reconnect for
 * the SignalR client's own 100 s negotiate timeout instead of our 10 s. A plain timer and
 * controller are held strongly until dispose() or the abort.
 */
export interface Deadline {
  readonly signal: AbortSignal;
  /** Stops the timer and lets go of the parents; idempotent, and harmless after the abort. */
  dispose(): void;
}

/** `ms` undefined: no timer, only the parents bound the work. Undefined parents are skipped. */
export function deadline(ms: number | undefined, ...parents: (AbortSignal | undefined)[]): Deadline {
  const controller = new AbortController();
  const live = parents.filter((p): p is AbortSignal => p !== undefined);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const onParentAbort = (event: Event): void => abort((event.target as AbortSignal).reason);
  const dispose = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    for (const p of live) p.removeEventListener('abort', onParentAbort);
  };
  const abort = (reason: unknown): void => {
    dispose();
    controller.abort(reason);
  };
  const already = live.find((p) => p.aborted);
  if (already) {
    controller.abort(already.reason);
    return { signal: controller.signal, dispose };
  }
  for (const p of live) p.addEventListener('abort', onParentAbort, { once: true });
  // The reason AbortSignal.timeout() gives, so callers that tell a timeout from a cancel still can.
  if (ms !== undefined) timer = setTimeout(() => abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError')), ms);
  return { signal: controller.signal, dispose };
}
