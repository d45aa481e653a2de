/**
 * node-datachannel's cleanup() closes every PeerConnection in the process (node-datachannel #108),
 * so acquireNative()/releaseNative() refcount it: releasing one user leaves another's link working;
 * the last release runs cleanup(). Own file (own process), because cleanup() is process-global.
 */
import { describe, expect, it } from 'vitest';
import { acquireNative, nativeUsers, releaseNative, type AvailableNativeBinding } from '../../src/transport/native/binding.js';
import { nextEvent, openPair } from './fixtures/pair.js';

async function roundTrip(pair: Awaited<ReturnType<typeof openPair>>, text: string): Promise<string> {
  const got = nextEvent(pair.answerer, 'message');
  pair.offerer.send('reliable', new TextEncoder().encode(text));
  return Buffer.from((await got)[0]).toString();
}

describe('acquireNative / releaseNative', () => {
  it("releasing one user leaves the other's link working; the last release runs cleanup()", async () => {
    const first = (await acquireNative()) as AvailableNativeBinding;
    const second = (await acquireNative()) as AvailableNativeBinding;
    expect(first.available && second.available).toBe(true);
    expect(nativeUsers()).toBe(2);
    const firstPair = await openPair(first);
    const secondPair = await openPair(second);

    firstPair.close();
    expect(releaseNative()).toBe(false); // not the last user: no cleanup()
    expect(nativeUsers()).toBe(1);
    expect(secondPair.offerer.state).toBe('open');
    expect(await roundTrip(secondPair, 'still here')).toBe('still here');

    // The last release closes whatever is still open; the links hear of it and emit `close` once.
    const closes: string[] = [];
    secondPair.offerer.on('close', (r) => closes.push(r));
    expect(releaseNative()).toBe(true);
    expect(nativeUsers()).toBe(0);
    expect(closes).toEqual(['native binding cleaned up']);
    expect(secondPair.answerer.state).toBe('closed');
    expect(releaseNative()).toBe(false); // unbalanced release is ignored
    secondPair.close();
    expect(closes).toHaveLength(1);
  });

  it('the binding works again after cleanup(), for a later user', async () => {
    const status = (await acquireNative()) as AvailableNativeBinding;
    const pair = await openPair(status);
    expect(await roundTrip(pair, 'after cleanup')).toBe('after cleanup');
    pair.close();
    expect(releaseNative()).toBe(true);
  });
});
