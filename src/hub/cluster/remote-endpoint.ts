/**
 * A member connected to another hub of the cluster, as the room methods see it: sends go to that
 * hub's channel on the backplane, and backpressure comes from what that hub reports (pressure
 * messages) plus how much this hub has published that Redis has not yet taken.
 */
import { MessageType } from '../../protocol/signalr/hub-messages.js';
import { writeRecord } from '../../protocol/signalr/text-format.js';
import type { MemberEndpoint } from '../room-registry.js';

/** What a remote endpoint needs from the cluster registry. */
export interface RemoteRoute {
  /** Publishes a directed record to the member's hub; throws while the backplane is down. */
  sendDirected(to: RemoteEndpoint, method: 'relay' | 'signal', record: string): void;
  whenWritable(to: RemoteEndpoint): Promise<void> | undefined;
}

export class RemoteEndpoint implements MemberEndpoint {
  constructor(
    readonly room: string,
    readonly peerId: string,
    readonly remoteNode: string,
    readonly connectionId: string,
    private readonly route: RemoteRoute,
  ) {}

  /** Key of the connection on its hub, as pressure messages name it. */
  get pressureKey(): string {
    return pressureKey(this.remoteNode, this.connectionId);
  }

  sendInvocation(target: string, args: unknown[]): void {
    this.route.sendDirected(this, 'signal', writeRecord(JSON.stringify({ type: MessageType.Invocation, target, arguments: args })));
  }

  sendInvocationRecord(record: string): void {
    this.route.sendDirected(this, 'relay', record);
  }

  /** Its own hub bounds how long it is behind (slow-member.ts); this hub bounds the wait as well. */
  whenWritable(): Promise<void> | undefined {
    return this.route.whenWritable(this);
  }
}

export function pressureKey(node: string, connectionId: string): string {
  return `${node}\n${connectionId}`;
}
