/** Helpers for agent tests: agents on a real hub, ICE on loopback only, events awaited with timeouts. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, onTestFinished } from 'vitest';
import { createAgent, createLogger, type Agent, type AgentOptions, type PathChange, type ReceivedMessage } from '../../src/index.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Settings every test agent uses: loopback ICE, no STUN, and no RTC_AGENT_* leaking in from the shell. */
export function testAgentOptions(hubUrl: string, extra: AgentOptions = {}): AgentOptions {
  return {
    hubUrl,
    iceBindAddress: '127.0.0.1',
    logger: createLogger({ level: (process.env.TEST_LOG_LEVEL as 'warn') ?? 'warn', pretty: false }),
    env: {},
    ...extra,
  };
}

export async function useAgent(hubUrl: string, extra: AgentOptions = {}): Promise<Agent> {
  const agent = await createAgent(testAgentOptions(hubUrl, extra));
  onTestFinished(() => agent.close({ flushMs: 0 }));
  return agent;
}

/** Resolves when `agent` reports the P2P path to each of `count` peers (in any room). */
export function p2pTo(agent: Agent, count: number, ms = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const peers = new Set<string>();
    const timer = setTimeout(() => reject(new Error(`only ${peers.size}/${count} peers reached p2p within ${ms} ms`)), ms);
    const check = (): void => {
      for (const room of agent.joinedRooms()) for (const p of room.peers()) if (p.path === 'p2p') peers.add(`${room.name}/${p.peerId}`);
      if (peers.size >= count) {
        clearTimeout(timer);
        agent.off('path-changed', onChange);
        resolve();
      }
    };
    const onChange = (_c: PathChange): void => check();
    agent.on('path-changed', onChange);
    check();
  });
}

/** Collects messages; `waitFor(n)` resolves once n have arrived. */
export function inbox(agent: Agent): { messages: ReceivedMessage[]; waitFor(n: number, ms?: number): Promise<ReceivedMessage[]> } {
  const messages: ReceivedMessage[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  agent.on('message', (m) => {
    messages.push(m);
    for (const w of [...waiters]) if (messages.length >= w.n) w.resolve();
  });
  return {
    messages,
    waitFor(n, ms = 10_000) {
      if (messages.length >= n) return Promise.resolve(messages);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`got ${messages.length}/${n} messages within ${ms} ms`)), ms);
        waiters.push({
          n,
          resolve: () => {
            clearTimeout(timer);
            resolve(messages);
          },
        });
      });
    },
  };
}

export function nextEvent<T>(agent: Agent, event: 'peer-joined' | 'peer-left' | 'path-changed' | 'message' | 'file-received' | 'file-failed' | 'file-offer', filter: (x: any) => boolean = () => true, ms = 10_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      agent.off(event as 'message', handler);
      reject(new Error(`no ${event} within ${ms} ms`));
    }, ms);
    const handler = (x: any): void => {
      if (!filter(x)) return;
      clearTimeout(timer);
      agent.off(event as 'message', handler);
      resolve(x as T);
    };
    agent.on(event as 'message', handler);
  });
}

export interface ChildAgent {
  child: ChildProcess;
  events: any[];
  next(match: (e: any) => boolean, ms?: number): Promise<any>;
  command(cmd: Record<string, unknown>): void;
  exit: Promise<number | null>;
  stderr(): string;
}

/** Starts test/fixtures/agent-child.ts in its own process (optionally with the native binding blocked). */
export function spawnChildAgent(env: Record<string, string>, options: { blockNative?: boolean } = {}): ChildAgent {
  const args = [...(options.blockNative ? ['--import', './test/fixtures/block-native.mjs'] : []), '--import', 'tsx', 'test/fixtures/agent-child.ts'];
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('RTC_AGENT_')));
  const state = expect.getState();
  const freezeLabel = `${relative(ROOT, state.testPath ?? '?')} > ${state.currentTestName ?? '?'} (child agent)`;
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...clean, RTC_AGENT_ICE_BIND_ADDRESS: '127.0.0.1', RTC_TEST_FREEZE_LABEL: freezeLabel, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const events: any[] = [];
  const waiters: (() => void)[] = [];
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      events.push(JSON.parse(line));
    } catch {
      events.push({ event: 'stdout', line });
    }
    for (const w of waiters.splice(0)) w();
  });
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    events,
    exit,
    stderr: () => err,
    command: (cmd) => child.stdin!.write(`${JSON.stringify(cmd)}\n`),
    async next(match, ms = 15_000) {
      const deadline = Date.now() + ms;
      for (;;) {
        const found = events.find(match);
        if (found) return found;
        if (child.exitCode !== null) throw new Error(`child exited (${child.exitCode}) first; stderr: ${err.slice(-2000)}`);
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`child event not seen within ${ms} ms; events: ${JSON.stringify(events).slice(-1500)}; stderr: ${err.slice(-1500)}`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(t);
            resolve();
          });
        });
      }
    },
  };
}
