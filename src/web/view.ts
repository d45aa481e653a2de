/**
 * The chat page's DOM: the elements of the HTML in src/hub/web-page.ts, the log (messages, files,
 * notices) and the peer list. Text from peers is only ever set as textContent. Tests find things
 * by the data- attributes set here (direction, path, encrypted, e2ee, fingerprint, unacked).
 */
import type { FileReceived, PeerInfo, ReceivedMessage, Room } from '../browser/index.js';

function byId<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the page has no #${id}`);
  return found as T;
}

export const ui = {
  joinForm: byId<HTMLFormElement>('join-form'),
  room: byId<HTMLInputElement>('room'),
  name: byId<HTMLInputElement>('name'),
  join: byId<HTMLButtonElement>('join'),
  e2ee: byId<HTMLInputElement>('e2ee'),
  roomSecret: byId<HTMLInputElement>('room-secret'),
  fingerprint: byId<HTMLElement>('fingerprint'),
  leave: byId<HTMLButtonElement>('leave'),
  status: byId<HTMLElement>('status'),
  log: byId<HTMLUListElement>('log'),
  peers: byId<HTMLUListElement>('peers'),
  sendForm: byId<HTMLFormElement>('send-form'),
  to: byId<HTMLSelectElement>('to'),
  message: byId<HTMLInputElement>('message'),
  send: byId<HTMLButtonElement>('send'),
  file: byId<HTMLInputElement>('file'),
  sendFile: byId<HTMLButtonElement>('send-file'),
};

/** The log keeps this many lines; older ones go. */
const MAX_LOG_LINES = 1_000;

function timeOf(ms: number): string {
  return new Date(ms).toLocaleTimeString(undefined, { hour12: false });
}

function span(className: string, text: string): HTMLSpanElement {
  const s = document.createElement('span');
  s.className = className;
  s.textContent = text;
  return s;
}

function pathBadge(path: string): HTMLSpanElement {
  const badge = span('path', path);
  badge.dataset.path = path;
  return badge;
}

function lock(): HTMLSpanElement {
  const l = span('lock', '🔒');
  l.title = 'end-to-end encrypted';
  return l;
}

function append(li: HTMLLIElement): void {
  const atBottom = ui.log.scrollTop + ui.log.clientHeight >= ui.log.scrollHeight - 20;
  ui.log.append(li);
  while (ui.log.children.length > MAX_LOG_LINES) ui.log.firstElementChild?.remove();
  if (atBottom) li.scrollIntoView({ block: 'end' });
}

export function logNotice(text: string, level: 'info' | 'warn' | 'error'): void {
  const li = document.createElement('li');
  li.className = level === 'info' ? 'system' : 'system error';
  li.dataset.direction = 'system';
  li.append(span('time', timeOf(Date.now())), document.createTextNode(text));
  append(li);
}

/** A message line: time, who, text, the path(s) it took, and a lock when it was sealed end to end. */
function messageItem(direction: 'in' | 'out', at: number, who: string, text: string, paths: string[], encrypted: boolean): HTMLLIElement {
  const li = document.createElement('li');
  li.className = 'msg';
  li.dataset.direction = direction;
  li.dataset.encrypted = String(encrypted);
  li.append(span('time', timeOf(at)), span('who', who), span('text', text));
  for (const p of new Set(paths)) li.append(pathBadge(p));
  if (encrypted) li.append(lock());
  return li;
}

export function logIncoming(m: ReceivedMessage): void {
  const body = m.kind === 'binary' ? `<${(m.data as Uint8Array).length} bytes>` : (m.text ?? '');
  const li = messageItem('in', m.timestamp, `${m.name}:`, body, [m.path], m.encrypted);
  li.dataset.from = m.from;
  li.dataset.path = m.path;
  li.dataset.reliable = String(m.reliable);
  append(li);
  scheduleRender(); // the peer's counters changed
}

export function logOutgoing(text: string, toName: string, paths: string[], encrypted: boolean): void {
  append(messageItem('out', Date.now(), `me → ${toName}:`, text, paths, encrypted));
}

/** A verified incoming file: a download link to its object URL. */
export function logFile(f: FileReceived): void {
  const li = document.createElement('li');
  li.className = 'file';
  li.dataset.direction = 'in';
  li.dataset.from = f.from;
  const link = document.createElement('a');
  link.href = f.path;
  link.download = f.name;
  link.textContent = f.name;
  li.append(span('time', timeOf(Date.now())), span('who', `${f.fromName}:`), link, span('detail', ` ${f.size} bytes, SHA-256 verified`));
  append(li);
}

function describe(p: PeerInfo): string {
  const parts: string[] = [];
  if (!p.native) parts.push('no P2P (relay only)');
  else if (p.p2p !== 'open') parts.push(`p2p ${p.p2p}`);
  if (p.rttMs !== undefined) parts.push(`rtt ${p.rttMs} ms`);
  parts.push(`${p.messagesSent}↑ ${p.messagesReceived}↓`);
  if (p.unackedBytes > 0) parts.push(`${p.unackedBytes} B unacked`);
  return parts.join(' · ');
}

/** The peer's E2EE line in the peer list, if any. */
function e2eeText(p: PeerInfo): string | undefined {
  switch (p.e2eeState) {
    case 'off':
      return p.canSend ? undefined : 'encrypted peer — turn on E2EE (and rejoin) to talk to it';
    case 'peer-has-none':
      return 'no end-to-end encryption — nothing is sent to it';
    case 'deriving':
      return '🔒 deriving keys…';
    case 'ready':
      return `🔒 end-to-end encrypted${p.e2eeDropped > 0 ? ` · ${p.e2eeDropped} frame(s) dropped (did not open)` : ''}`;
    case 'error':
      return `unusable E2EE keys — nothing is sent to it${p.cannotSendReason ? ` (${p.cannotSendReason})` : ''}`;
  }
}

function peerItem(p: PeerInfo): HTMLLIElement {
  const li = document.createElement('li');
  li.dataset.peerId = p.peerId;
  li.dataset.name = p.name;
  li.dataset.path = p.path;
  li.dataset.unacked = String(p.unackedBytes);
  li.dataset.e2ee = p.e2eeState;
  if (p.fingerprint !== undefined) li.dataset.fingerprint = p.fingerprint;
  li.append(span('name', p.name), pathBadge(p.path), span('id', p.peerId), span('detail', describe(p)));
  const e2ee = e2eeText(p);
  if (e2ee !== undefined) {
    const e = span('e2ee', e2ee);
    e.dataset.e2ee = p.e2eeState;
    li.append(e);
  }
  if (p.fingerprint !== undefined) {
    const fp = span('fingerprint', p.fingerprint);
    fp.title = `${p.name}'s identity fingerprint: compare it with what ${p.name} shows (e.g. /verify)`;
    li.append(fp);
  }
  return li;
}

let currentRoom: () => Room | null = () => null;

/** Where the peer list comes from (the page's current room). */
export function showPeersOf(room: () => Room | null): void {
  currentRoom = room;
}

export function renderPeers(): void {
  const room = currentRoom();
  const peers = room ? room.peers().sort((a, b) => a.name.localeCompare(b.name)) : [];
  ui.peers.replaceChildren(...peers.map(peerItem));
  const selected = ui.to.value;
  const options = [new Option('everyone', '')];
  for (const p of peers) if (p.canSend) options.push(new Option(p.name, p.peerId));
  ui.to.replaceChildren(...options);
  ui.to.value = options.some((o) => o.value === selected) ? selected : '';
}

let renderPending = false;

/** Redraws the peer list once for everything that changes in this turn. */
export function scheduleRender(): void {
  if (renderPending) return;
  renderPending = true;
  setTimeout(() => {
    renderPending = false;
    renderPeers();
  }, 0);
}
