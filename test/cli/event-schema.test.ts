/**
 * One event schema: for the same message and the same file, the library's events (as eventJson
 * makes them), `rtc-agent pipe --json` and the daemon's GET /events give the same fields, in the
 * same order, with the same values (only what differs per receiver may differ: when it was seen,
 * over which path, where the file was written).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { eventJson, type EventJson } from '../../src/index.js';
import { useAgent } from '../helpers/agents.js';
import { useHub } from '../helpers/hub.js';
import { waitUntil } from '../helpers/wait.js';
import { readEvents, startDaemonProc } from '../daemon/helpers.js';
import { cli } from './helpers.js';

/**
 * Fields that are about the receiver, not the event: when it saw it, by which path; a message's id
 * and sender timestamp are per link (each receiver gets its own copy); a file's path is compared apart.
 */
const PER_RECEIVER = new Set(['ts', 'path']);
const PER_LINK = new Set(['id', 'timestamp']);

function comparable(e: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(e).filter(([k]) => !PER_RECEIVER.has(k) && !(e.type === 'message' && PER_LINK.has(k))));
}

describe('one event schema for the library, pipe --json and the daemon', () => {
  it('gives the same fields for the same messages (text, JSON, bytes) and the same file', async () => {
    const hub = await useHub();
    const dir = mkdtempSync(join(tmpdir(), 'rtc-schema-'));
    const file = join(dir, 'notes.txt');
    writeFileSync(file, 'same file for everyone\n');

    // Three receivers: the library in this process, a pipe, a daemon (both told to accept files).
    const lib = await useAgent(hub.url, { name: 'lib', downloadDir: join(dir, 'lib') });
    const fromLib: EventJson[] = [];
    for (const type of ['message', 'file-offer', 'file-received'] as const) lib.on(type as 'message', (payload: unknown) => fromLib.push(eventJson(type, payload as never)));
    await lib.join('schema');
    const pipe = cli(['pipe', '--room', 'schema', '--hub', hub.url, '--name', 'pipe', '--json', '--keep-open', '--download-dir', join(dir, 'pipe')]);
    pipe.child.stdin!.end();
    const d = await startDaemonProc(hub.url, ['--room', 'schema', '--download-dir', join(dir, 'daemon')]);
    const stream = await readEvents(d.socket);

    const sender = await useAgent(hub.url, { name: 'sender' });
    const room = await sender.join('schema');
    await waitUntil(() => room.peers().length === 3, { what: 'the sender to see all three receivers' });
    await room.send('hello all');
    await room.send({ n: 1, list: ['a', 'b'] });
    await room.send(new Uint8Array([0, 1, 254, 255]));
    const sent = await room.sendFile(file);
    expect(sent.deliveredTo).toHaveLength(3);

    const fromPipe = (): Record<string, unknown>[] => pipe.lines.map((l) => JSON.parse(l));
    const wanted = (events: { type?: unknown }[]): boolean => ['message', 'file-offer', 'file-received'].every((t) => events.filter((e) => e.type === t).length >= (t === 'message' ? 3 : 1));
    await waitUntil(() => wanted(fromLib) && wanted(fromPipe()) && wanted(stream.events), { what: 'every receiver to report the messages and the file' });

    for (const type of ['message', 'file-offer', 'file-received'] as const) {
      const pick = (events: Record<string, unknown>[]): Record<string, unknown>[] => events.filter((e) => e.type === type && (e.from === room.selfId || e.from === undefined));
      const a = pick(fromLib as unknown as Record<string, unknown>[]);
      const b = pick(fromPipe());
      const c = pick(stream.events);
      expect(a.length, type).toBeGreaterThan(0);
      for (const [i, lib] of a.entries()) {
        const keys = Object.keys(lib);
        // Same names, in the same order, everywhere.
        expect(Object.keys(b[i]!), `${type} ${i}: pipe --json`).toEqual(keys);
        expect(Object.keys(c[i]!), `${type} ${i}: daemon /events`).toEqual(keys);
        if (type === 'file-received') {
          const { path: _a, ...x } = comparable(lib);
          const { path: _b, ...y } = comparable(b[i]!);
          const { path: _c, ...z } = comparable(c[i]!);
          expect(y).toEqual(x);
          expect(z).toEqual(x);
          expect([lib.path, b[i]!.path, c[i]!.path]).toEqual([join(dir, 'lib', 'notes.txt'), join(dir, 'pipe', 'notes.txt'), join(dir, 'daemon', 'notes.txt')]);
        } else {
          expect(comparable(b[i]!), `${type} ${i}: pipe --json`).toEqual(comparable(lib));
          expect(comparable(c[i]!), `${type} ${i}: daemon /events`).toEqual(comparable(lib));
        }
      }
    }
    // And they are the library's own names: a message's JSON is its ReceivedMessage, bytes as base64.
    const [text, json, bytes] = fromPipe().filter((e) => e.type === 'message');
    expect(text).toMatchObject({ type: 'message', room: 'schema', from: room.selfId, name: 'sender', kind: 'text', text: 'hello all', data: 'hello all', reliable: true, encrypted: false });
    expect(json).toMatchObject({ kind: 'json', text: '{"n":1,"list":["a","b"]}', data: { n: 1, list: ['a', 'b'] } });
    expect(bytes).toMatchObject({ kind: 'binary', data: Buffer.from([0, 1, 254, 255]).toString('base64') });
    expect(bytes).not.toHaveProperty('text');
    expect(fromPipe().find((e) => e.type === 'file-received')).toMatchObject({ room: 'schema', from: room.selfId, fromName: 'sender', name: 'notes.txt', size: 23, sha256: sent.sha256 });

    pipe.child.kill('SIGTERM');
    expect(await pipe.exit).toBe(0);
  });
});
