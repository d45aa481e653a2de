/**
 * Room membership and delivery: the hub's backplane seam. Today everything lives in this process
 * ({@link InProcessRoomRegistry}); a Redis-backed registry can implement the same interface so
 * several hub processes serve one room (as ASP.NET Core's Redis backplane does). Hub methods never
 * assume a member is connected to this process: they only go through this interface.
 */
import type { Participant } from '../protocol/room-contract.js';

/** Where a member's messages go. For local members, the connection's send path. */
export interface MemberEndpoint {
  readonly connectionId: string;
  sendInvocation(target: string, args: unknown[]): void;
  /** Sends an Invocation already serialised as a SignalR JSON record (shared across recipients). */
  sendInvocationRecord(record: string): void;
  /** Resolves once the member's queue is below its high-water mark (undefined: it already is). */
  whenWritable(): Promise<void> | undefined;
}

export interface RoomMember {
  participant: Participant;
  endpoint: MemberEndpoint;
}

export interface RoomRegistry {
  /** Adds or replaces a member; returns the member it replaced (same peer id, other connection). */
  add(room: string, member: RoomMember): RoomMember | undefined;
  /** Removes the member if it is still bound to `connectionId`; returns it if removed. */
  remove(room: string, peerId: string, connectionId: string): RoomMember | undefined;
  get(room: string, peerId: string): RoomMember | undefined;
  members(room: string): Iterable<RoomMember>;
  size(room: string): number;
  stats(): { rooms: number; members: number };
}

export class InProcessRoomRegistry implements RoomRegistry {
  private readonly rooms = new Map<string, Map<string, RoomMember>>();
  private memberCount = 0;

  add(room: string, member: RoomMember): RoomMember | undefined {
    let members = this.rooms.get(room);
    if (!members) {
      members = new Map();
      this.rooms.set(room, members);
    }
    const previous = members.get(member.participant.peerId);
    if (!previous) this.memberCount++;
    members.set(member.participant.peerId, member);
    return previous && previous.endpoint.connectionId !== member.endpoint.connectionId ? previous : undefined;
  }

  remove(room: string, peerId: string, connectionId: string): RoomMember | undefined {
    const members = this.rooms.get(room);
    const member = members?.get(peerId);
    if (!members || !member || member.endpoint.connectionId !== connectionId) return undefined;
    members.delete(peerId);
    this.memberCount--;
    if (members.size === 0) this.rooms.delete(room);
    return member;
  }

  get(room: string, peerId: string): RoomMember | undefined {
    return this.rooms.get(room)?.get(peerId);
  }

  members(room: string): Iterable<RoomMember> {
    return this.rooms.get(room)?.values() ?? [];
  }

  size(room: string): number {
    return this.rooms.get(room)?.size ?? 0;
  }

  stats(): { rooms: number; members: number } {
    return { rooms: this.rooms.size, members: this.memberCount };
  }
}
