/**
 * The few globals the engine uses, as both Node (>= 20) and browsers define them. The engine is
 * type-checked with `lib: es2022` and no `types` (tsconfig.engine.json, the only project that
 * includes this file), so Buffer, `node:` modules, `process` and DOM names do not exist there:
 * platform code lives behind the seams in peer-link.ts, signaling.ts, crypto/ and files/.
 * Declared structurally and minimal on purpose; the main build sees Node's declarations instead.
 */
declare global {
  // Opaque handles: engine code writes `ReturnType<typeof setTimeout>`, which also compiles where
  // Node's types are in scope (the main build, whose tsconfig excludes this file).
  interface EngineTimerHandle {
    readonly __engineTimer?: never;
  }
  function setTimeout(callback: () => void, ms?: number): EngineTimerHandle;
  function clearTimeout(timer: EngineTimerHandle | undefined | null): void;
  function setInterval(callback: () => void, ms?: number): EngineTimerHandle;
  function clearInterval(timer: EngineTimerHandle | undefined | null): void;
  function queueMicrotask(callback: () => void): void;

  class TextEncoder {
    encode(input?: string): Uint8Array;
  }
  class TextDecoder {
    constructor(label?: string, options?: { fatal?: boolean });
    decode(input?: Uint8Array): string;
  }

  /**
   * WebCrypto. `subtle` is typed where it is used (crypto/subtle.ts), with the calls made there,
   * so the same code compiles against Node's and the DOM's declarations.
   */
  var crypto: {
    getRandomValues<T extends Uint8Array | Uint32Array>(array: T): T;
    readonly subtle: unknown;
  };

  function btoa(data: string): string;
  function atob(data: string): string;
}

export {};
