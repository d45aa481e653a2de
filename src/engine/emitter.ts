/**
 * A typed event emitter for code that must run in Node and in browsers (node:events does not exist
 * in browsers). It keeps the part of Node's EventEmitter API programs use — on/off/once/emit,
 * addListener/removeListener, listenerCount, removeAllListeners — with one map of event names to
 * argument tuples per class, as `class Room extends Emitter<RoomEvents>`. A listener that throws
 * propagates to the emitter's caller, as in Node.
 */
type Listener<A extends unknown[]> = (...args: A) => void;
// Stored untyped: the map's typing lives in the methods' signatures.
type AnyListener = (...args: unknown[]) => void;

export class Emitter<E extends { [K in keyof E]: unknown[] }> {
  #listeners = new Map<keyof E, AnyListener[]>();

  on<K extends keyof E & string>(event: K, listener: Listener<E[K]>): this {
    const list = this.#listeners.get(event);
    if (list) list.push(listener as unknown as AnyListener);
    else this.#listeners.set(event, [listener as unknown as AnyListener]);
    return this;
  }

  addListener<K extends keyof E & string>(event: K, listener: Listener<E[K]>): this {
    return this.on(event, listener);
  }

  once<K extends keyof E & string>(event: K, listener: Listener<E[K]>): this {
    const wrapper = (...args: E[K]): void => {
      this.off(event, wrapper);
      listener(...args);
    };
    (wrapper as { listener?: unknown }).listener = listener;
    return this.on(event, wrapper);
  }

  off<K extends keyof E & string>(event: K, listener: Listener<E[K]>): this {
    const list = this.#listeners.get(event);
    if (!list) return this;
    const target = listener as unknown as AnyListener;
    const i = list.findIndex((l) => l === target || (l as { listener?: unknown }).listener === target);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.#listeners.delete(event);
    return this;
  }

  removeListener<K extends keyof E & string>(event: K, listener: Listener<E[K]>): this {
    return this.off(event, listener);
  }

  removeAllListeners(event?: keyof E & string): this {
    if (event === undefined) this.#listeners.clear();
    else this.#listeners.delete(event);
    return this;
  }

  listenerCount(event: keyof E & string): number {
    return this.#listeners.get(event)?.length ?? 0;
  }

  /** Calls every listener of `event` in order; false when there was none. */
  emit<K extends keyof E & string>(event: K, ...args: E[K]): boolean {
    const list = this.#listeners.get(event);
    if (!list) return false;
    for (const listener of list.length === 1 ? list : [...list]) listener(...args);
    return true;
  }
}
