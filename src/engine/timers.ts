/** Timers as the engine uses them on every platform. */

/** Timers must not keep a process alive (Node); browsers' timers have no unref. */
export function unref(timer: ReturnType<typeof setTimeout>): void {
  (timer as { unref?: () => void }).unref?.();
}
