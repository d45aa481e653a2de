/**
 * One smoke-test agent in its own process (`rtc-agent smoke --worker`, spawned by the smoke
 * command). Reads commands from stdin, reports events on stdout, one JSON object per line.
 * Closing stdin (the parent died) or a signal closes the agent; the process then exits by itself.
 */
import { createInterface } from 'node:readline';
import type { Agent, Room } from '../../agent/index.js';
import { RtcAgentError } from '../../errors.js';
import { loadNativeBinding } from '../../transport/native/binding.js';
import type { CliContext } from '../context.js';
import { startAgent } from '../start-agent.js';
import { exitCodeForError } from '../exit-codes.js';
import { isSmokePayload, type WorkerCommand, type WorkerEvent } from './protocol.js';

const PING_TIMEOUT_MS = 2_000;

export async function runWorker(ctx: CliContext): Promise<void> {
  const out = (e: WorkerEvent): void => void ctx.stdout.write(`${JSON.stringify(e)}\n`);
  const lines = createInterface({ input: process.stdin });
  const commands: WorkerCommand[] = [];
  let wake: (() => void) | undefined;
  let ended = false;
  lines.on('line', (line) => {
    try {
      commands.push(JSON.parse(line) as WorkerCommand);
    } catch {
      return;
    }
    wake?.();
  });
  lines.on('close', () => {
    ended = true;
    wake?.();
  });
  const next = async (): Promise<WorkerCommand | undefined> => {
    while (commands.length === 0 && !ended) await new Promise<void>((r) => (wake = r));
    return commands.shift();
  };

  const start = await next();
  if (start?.cmd !== 'start') return stop(lines);
  let agent: Agent;
  const t0 = performance.now();
  try {
    // Quiet by default (the parent keeps stderr for diagnostics); --log-level or the env var win.
    agent = await startAgent(ctx, { ...start.flags, name: start.name }, { defaults: { logLevel: 'warn' }, ...(start.relayOnly ? { overrides: { tryNative: false } } : {}) });
  } catch (err) {
    const e = err instanceof RtcAgentError ? err : undefined;
    out({ ev: 'error', code: e?.code ?? 'ERROR', message: err instanceof Error ? err.message : String(err), exitCode: exitCodeForError(err) });
    process.exitCode = exitCodeForError(err);
    return stop(lines);
  }
  const native = await nativeInfo(agent);
  out({ ev: 'connected', connectMs: performance.now() - t0, ...native });

  const pongs = new Map<string, () => void>();
  let room: Room | undefined;
  agent.on('peer-joined', (p) => out({ ev: 'peer', peerId: p.peerId, name: p.name, path: p.path }));
  agent.on('peer-left', (p) => out({ ev: 'left', peerId: p.peerId, reason: p.reason }));
  agent.on('path-changed', (c) => out({ ev: 'path', peerId: c.peerId, from: c.from, to: c.to, reason: c.reason }));
  agent.on('error', (e) => out({ ev: 'warn', code: e.code, message: e.message }));
  agent.on('message', (m) => {
    if (!isSmokePayload(m.data)) return;
    const d = m.data;
    if (d.smoke === 'msg') out({ ev: 'msg', from: m.from, seq: d.seq, path: m.path });
    else if (d.smoke === 'ping') void room?.send({ smoke: 'pong', n: d.n }, { to: m.from }).catch(() => undefined);
    else pongs.get(`${m.from}/${d.n}`)?.();
  });
  const onSignal = (): void => {
    commands.unshift({ cmd: 'close' });
    wake?.();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    room = await agent.join(start.room);
    out({ ev: 'ready', peerId: room.selfId });
    for (let cmd = await next(); cmd && cmd.cmd !== 'close'; cmd = await next()) {
      if (cmd.cmd === 'send') void sendNumbered(room, cmd.count).then(out);
      if (cmd.cmd === 'ping') void pingAll(room, cmd.count, pongs).then((events) => events.forEach(out));
    }
  } catch (err) {
    const e = err instanceof RtcAgentError ? err : undefined;
    out({ ev: 'error', code: e?.code ?? 'ERROR', message: err instanceof Error ? err.message : String(err), exitCode: exitCodeForError(err) });
    process.exitCode = exitCodeForError(err);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await agent.close({ flushMs: 500 });
    out({ ev: 'closed' });
    stop(lines);
  }
}

function stop(lines: ReturnType<typeof createInterface>): void {
  lines.close();
  process.stdin.destroy();
}

async function nativeInfo(agent: Agent): Promise<{ native: boolean; nativeReason?: string; nativeVersion?: string }> {
  if (!agent.native) return agent.nativeReason !== undefined ? { native: false, nativeReason: agent.nativeReason } : { native: false };
  const status = await loadNativeBinding();
  return status.available ? { native: true, nativeVersion: status.version } : { native: true };
}

/** seq 1..count to every peer, each peer in parallel, then wait for the acknowledgements. */
async function sendNumbered(room: Room, count: number): Promise<WorkerEvent> {
  const peers = room.peers();
  try {
    await Promise.all(
      peers.map(async (p) => {
        for (let seq = 1; seq <= count; seq++) await room.send({ smoke: 'msg', seq }, { to: p.peerId });
      }),
    );
    return { ev: 'sent', peers: peers.length, flushed: await room.flush(10_000) };
  } catch (err) {
    return { ev: 'sent', peers: peers.length, flushed: false, error: err instanceof Error ? err.message : String(err) };
  }
}

async function pingAll(room: Room, count: number, pongs: Map<string, () => void>): Promise<WorkerEvent[]> {
  const events = await Promise.all(
    room.peers().map(async (p): Promise<WorkerEvent> => {
      const samples: number[] = [];
      for (let n = 1; n <= count; n++) {
        const key = `${p.peerId}/${n}`;
        const t = performance.now();
        const answered = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), PING_TIMEOUT_MS);
          pongs.set(key, () => {
            clearTimeout(timer);
            resolve(true);
          });
          room.send({ smoke: 'ping', n }, { to: p.peerId }).catch(() => resolve(false));
        });
        pongs.delete(key);
        if (answered) samples.push(performance.now() - t);
      }
      const agentRtt = room.peer(p.peerId)?.rttMs;
      return agentRtt !== undefined ? { ev: 'rtt', peerId: p.peerId, samples, agentRttMs: agentRtt } : { ev: 'rtt', peerId: p.peerId, samples };
    }),
  );
  return [...events, { ev: 'rtt-done' }];
}
