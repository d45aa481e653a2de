/** Full mesh over native DataChannels on loopback: 2 and 5 agents, broadcast and directed, text and binary. */
import { describe, expect, it } from 'vitest';
import { useHub } from '../helpers/hub.js';
import { inbox, p2pTo, useAgent } from '../helpers/agents.js';

describe('mesh', () => {
  it('two agents open a P2P link and exchange text, JSON and binary both ways', async () => {
    const hub = await useHub();
    const a = await useAgent(hub.url, { name: 'alice' });
    const b = await useAgent(hub.url, { name: 'bob' });
    expect(a.native && b.native).toBe(true);
    const ra = await a.join('lobby');
    const rb = await b.join('lobby');
    const atA = inbox(a);
    const atB = inbox(b);
    await Promise.all([p2pTo(a, 1), p2pTo(b, 1)]);

    await ra.send('hi bob');
    await ra.send({ n: 1, list: [true, null] });
    await ra.send(new Uint8Array([0, 1, 2, 255]));
    const big = new Uint8Array(300_000).map((_, i) => i % 251);
    await ra.send(big);
    await rb.send('hi alice', { to: ra.selfId });

    const got = await atB.waitFor(4);
    expect(got.map((m) => [m.kind, m.path, m.from, m.name])).toEqual([
      ['text', 'p2p', ra.selfId, 'alice'],
      ['json', 'p2p', ra.selfId, 'alice'],
      ['binary', 'p2p', ra.selfId, 'alice'],
      ['binary', 'p2p', ra.selfId, 'alice'],
    ]);
    expect(got[0]!.text).toBe('hi bob');
    expect(got[1]!.data).toEqual({ n: 1, list: [true, null] });
    expect([...(got[2]!.data as Uint8Array)]).toEqual([0, 1, 2, 255]);
    expect(Buffer.compare(got[3]!.data as Uint8Array, big)).toBe(0);
    expect(new Set(got.map((m) => m.id)).size).toBe(4);
    const back = await atA.waitFor(1);
    expect(back[0]).toMatchObject({ text: 'hi alice', path: 'p2p', from: rb.selfId, encrypted: false, reliable: true });
    expect(ra.peers()).toEqual([expect.objectContaining({ peerId: rb.selfId, name: 'bob', path: 'p2p', p2p: 'open', native: true })]);
  });

  it('five agents form a full mesh; broadcasts reach everyone and directed messages only their target', async () => {
    const hub = await useHub();
    const agents = await Promise.all(Array.from({ length: 5 }, (_, i) => useAgent(hub.url, { name: `agent${i}` })));
    // Join all at the same moment: each pair must still negotiate exactly once.
    const rooms = await Promise.all(agents.map((a) => a.join('mesh')));
    const boxes = agents.map((a) => inbox(a));
    await Promise.all(agents.map((a) => p2pTo(a, 4, 20_000)));
    for (const r of rooms) expect(r.peers().map((p) => p.path)).toEqual(['p2p', 'p2p', 'p2p', 'p2p']);

    for (let i = 0; i < 5; i++) await rooms[i]!.send(`broadcast from ${i}`);
    await rooms[0]!.send(Buffer.from('secret for 3'), { to: rooms[3]!.selfId });
    // A marker broadcast after the directed message: delivery from agent 0 is in order per peer, so
    // once a peer has the marker, a wrongly delivered copy of the directed one would be there too.
    await rooms[0]!.send('marker');
    await boxes[3]!.waitFor(6);
    for (let i = 0; i < 5; i++) {
      const box = await boxes[i]!.waitFor(i === 0 ? 4 : i === 3 ? 6 : 5);
      const texts = box.filter((m) => m.kind === 'text' && m.text !== 'marker').map((m) => m.text).sort();
      expect(texts).toEqual([0, 1, 2, 3, 4].filter((j) => j !== i).map((j) => `broadcast from ${j}`));
      if (i !== 0) expect(box.some((m) => m.text === 'marker')).toBe(true);
    }
    // Directed: only agent 3 got the binary one.
    const directed = boxes.map((b) => b.messages.filter((m) => m.kind === 'binary').length);
    expect(directed).toEqual([0, 0, 0, 1, 0]);
    expect(Buffer.from(boxes[3]!.messages.find((m) => m.kind === 'binary')!.data as Uint8Array).toString()).toBe('secret for 3');
  });

  it('joining never waits for ICE: the first message goes over relay, later ones over P2P', async () => {
    const hub = await useHub();
    const a = await useAgent(hub.url);
    const b = await useAgent(hub.url);
    const ra = await a.join('fast');
    await b.join('fast');
    const atB = inbox(b);
    // Sent before any P2P link can be open.
    await ra.send('before ice');
    await p2pTo(a, 1);
    await ra.send('after ice');
    const got = await atB.waitFor(2);
    expect(got.map((m) => [m.text, m.path])).toEqual([
      ['before ice', 'relay'],
      ['after ice', 'p2p'],
    ]);
  });
});
