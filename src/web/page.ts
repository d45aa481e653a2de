/// <reference lib="dom" />
/**
 * The chat page the hub serves at `/` (HTML in src/hub/web-page.ts): join a room under a display
 * name, chat with everyone or one peer, and see each peer's path (p2p or relay). The room logic is
 * in browser-room.ts and browser-peer.ts; this file is only the DOM. User-supplied text is only ever
 * set as textContent.
 *
 * E2EE (checkbox): the page does end-to-end encryption as agents with --e2ee do (e2ee.ts), with an
 * optional room secret that must match the agents'. The page's identity is generated per page load
 * (not persisted): its fingerprint, shown in the header, changes on every reload. Each peer shows
 * its fingerprint; sealed messages carry a lock.
 *
 * URL parameters prefill the form: `?room=ops&name=alice`; `&e2ee=1` ticks E2EE; `&join=1` joins at once. A token for a
 * hub with auth goes in the fragment (`#token=…`), which the browser never sends to the server.
 */
import { BrowserRoom } from './browser-room.js';
import type { BrowserMessage, PeerView } from './browser-peer.js';

function byId<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the page has no #${id}`);
  return found as T;
}

const ui = {
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
};

const hubPath = document.querySelector<HTMLMetaElement>('meta[name="rtc-agent-hub-path"]')?.content ?? '/hub';
const hubUrl = new URL(hubPath, location.origin).toString();
const params = new URLSearchParams(location.search);
const token = new URLSearchParams(location.hash.slice(1)).get('token') ?? undefined;

let room: BrowserRoom | null = null;

/**
 * The console handle: the current room, and `agentKey`, which (when set) the next join uses
 * instead of a fresh random key, once; `heartbeatMs` for the next joins (default 5 s, as agents).
 * For tests that need a particular peer id ordering or quick heartbeats, and for poking at the
 * page; anyone with the console controls the page anyway.
 */
const handle: { readonly room: BrowserRoom | null; agentKey: string | undefined; heartbeatMs: number | undefined } = {
  get room(): BrowserRoom | null {
    return room;
  },
  agentKey: undefined,
  heartbeatMs: undefined,
};
(globalThis as { rtcAgentChat?: unknown }).rtcAgentChat = handle;

function nextAgentKey(): { agentKey: string } | undefined {
  const agentKey = handle.agentKey;
  handle.agentKey = undefined;
  return agentKey === undefined ? undefined : { agentKey };
}
let redrawTimer: ReturnType<typeof setInterval> | null = null;

// ------------------------------------------------------------------------------------ log

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

function append(li: HTMLLIElement): void {
  const atBottom = ui.log.scrollTop + ui.log.clientHeight >= ui.log.scrollHeight - 20;
  ui.log.append(li);
  while (ui.log.children.length > 1_000) ui.log.firstElementChild?.remove();
  if (atBottom) li.scrollIntoView({ block: 'end' });
}

function logNotice(text: string, level: 'info' | 'warn' | 'error'): void {
  const li = document.createElement('li');
  li.className = level === 'info' ? 'system' : 'system error';
  li.dataset.direction = 'system';
  li.append(span('time', timeOf(Date.now())), document.createTextNode(text));
  append(li);
}

function lock(): HTMLSpanElement {
  const l = span('lock', '🔒');
  l.title = 'end-to-end encrypted';
  return l;
}

function logIncoming(m: BrowserMessage): void {
  scheduleRender(); // the peer's counters changed
  const li = document.createElement('li');
  li.className = 'msg';
  li.dataset.direction = 'in';
  li.dataset.from = m.from;
  li.dataset.path = m.path;
  li.dataset.encrypted = String(m.encrypted);
  const body = m.kind === 'binary' ? `<${(m.data as Uint8Array).length} bytes>` : (m.text ?? '');
  li.append(span('time', timeOf(m.timestamp)), span('who', `${m.name}:`), span('text', body), pathBadge(m.path));
  if (m.encrypted) li.append(lock());
  append(li);
}

function logOutgoing(text: string, toName: string, paths: string[], encrypted: boolean): void {
  const li = document.createElement('li');
  li.className = 'msg';
  li.dataset.direction = 'out';
  li.dataset.encrypted = String(encrypted);
  li.append(span('time', timeOf(Date.now())), span('who', `me → ${toName}:`), span('text', text));
  for (const p of new Set(paths)) li.append(pathBadge(p));
  if (encrypted) li.append(lock());
  append(li);
}

// ------------------------------------------------------------------------------------ peers

function describe(p: PeerView): string {
  const parts: string[] = [];
  if (!p.native) parts.push('no P2P (relay only)');
  else if (p.p2p !== 'open') parts.push(`p2p ${p.p2p}`);
  if (p.rttMs !== undefined) parts.push(`rtt ${p.rttMs} ms`);
  parts.push(`${p.messagesSent}↑ ${p.messagesReceived}↓`);
  if (p.unackedBytes > 0) parts.push(`${p.unackedBytes} B unacked`);
  return parts.join(' · ');
}

/** The peer's E2EE line in the peer list, if any. */
function e2eeText(p: PeerView): string | undefined {
  switch (p.e2ee) {
    case 'off':
      return p.encrypted ? 'encrypted peer — turn on E2EE (and rejoin) to talk to it' : undefined;
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

let renderPending = false;

/** Redraws the peer list once for everything that changes in this turn. */
function scheduleRender(): void {
  if (renderPending) return;
  renderPending = true;
  setTimeout(() => {
    renderPending = false;
    renderPeers();
  }, 0);
}

function renderPeers(): void {
  const peers = room ? room.peers().sort((a, b) => a.name.localeCompare(b.name)) : [];
  const items = peers.map((p) => {
    const li = document.createElement('li');
    li.dataset.peerId = p.peerId;
    li.dataset.name = p.name;
    li.dataset.path = p.path;
    li.dataset.unacked = String(p.unackedBytes);
    li.dataset.e2ee = p.e2ee;
    if (p.fingerprint !== undefined) li.dataset.fingerprint = p.fingerprint;
    li.append(span('name', p.name), pathBadge(p.path), span('id', p.peerId), span('detail', describe(p)));
    const e2ee = e2eeText(p);
    if (e2ee !== undefined) {
      const e = span('e2ee', e2ee);
      e.dataset.e2ee = p.e2ee;
      li.append(e);
    }
    if (p.fingerprint !== undefined) {
      const fp = span('fingerprint', p.fingerprint);
      fp.title = `${p.name}'s identity fingerprint: compare it with what ${p.name} shows (e.g. /verify)`;
      li.append(fp);
    }
    return li;
  });
  ui.peers.replaceChildren(...items);

  const selected = ui.to.value;
  const options = [new Option('everyone', '')];
  for (const p of peers) if (p.canSend) options.push(new Option(p.name, p.peerId));
  ui.to.replaceChildren(...options);
  ui.to.value = options.some((o) => o.value === selected) ? selected : '';
}

// ------------------------------------------------------------------------------------ state

function setJoined(joined: boolean): void {
  ui.room.disabled = joined;
  ui.name.disabled = joined;
  ui.e2ee.disabled = joined;
  ui.roomSecret.disabled = joined;
  if (!joined) {
    ui.fingerprint.textContent = '';
    delete ui.fingerprint.dataset.fingerprint;
  }
  ui.join.hidden = joined;
  ui.join.disabled = false;
  ui.leave.hidden = !joined;
  ui.message.disabled = !joined;
  ui.send.disabled = !joined;
  if (joined) {
    redrawTimer ??= setInterval(renderPeers, 1_000);
    ui.message.focus();
  } else if (redrawTimer) {
    clearInterval(redrawTimer);
    redrawTimer = null;
  }
}

function showSelf(): void {
  if (!room) return;
  const self = room.self;
  ui.status.textContent = `in room ${room.room} as ${self?.name ?? '?'} (${room.selfId})`;
  ui.status.dataset.selfId = room.selfId;
  const fp = room.fingerprint;
  if (fp !== undefined) {
    ui.fingerprint.textContent = `🔒 E2EE${room.hasRoomSecret ? ' with room secret' : ''} · your fingerprint ${fp}`;
    ui.fingerprint.dataset.fingerprint = fp;
  }
  document.title = `${room.room} · rtc-agent chat`;
}

async function join(): Promise<void> {
  const roomName = ui.room.value.trim();
  const name = ui.name.value.trim();
  const e2ee = ui.e2ee.checked;
  const secret = ui.roomSecret.value;
  if (!e2ee && secret !== '') {
    logNotice('a room secret only means something with E2EE: tick E2EE or clear the room secret', 'error');
    return;
  }
  ui.join.disabled = true;
  ui.status.textContent = e2ee && secret !== '' ? `deriving the room key and joining ${roomName}…` : `joining ${roomName}…`;
  try {
    const joined = await BrowserRoom.join({
      hubUrl,
      room: roomName,
      name,
      ...(token ? { accessToken: token } : {}),
      ...(nextAgentKey() ?? {}),
      ...(handle.heartbeatMs !== undefined ? { heartbeatMs: handle.heartbeatMs } : {}),
      ...(e2ee ? { e2ee: secret === '' ? {} : { roomSecret: secret } } : {}),
      handlers: {
        message: logIncoming,
        peersChanged: scheduleRender,
        notice: logNotice,
        connection: (state, detail) => {
          if (state === 'connected') showSelf();
          else if (state === 'reconnecting') ui.status.textContent = `hub connection lost; reconnecting…${detail ? ` (${detail})` : ''}`;
          else {
            ui.status.textContent = `disconnected from the hub${detail ? `: ${detail}` : ''}`;
            logNotice('disconnected from the hub', 'error');
            room = null;
            delete ui.status.dataset.selfId;
            setJoined(false);
            renderPeers();
          }
        },
        debug: (text) => console.debug(`[rtc-agent] ${text}`),
      },
    });
    room = joined;
    showSelf();
    setJoined(true);
    logNotice(`joined ${joined.room} as ${joined.self?.name ?? name}; ${joined.peers().length} other peer(s) here`, 'info');
    renderPeers();
    const url = new URL(location.href);
    url.searchParams.set('room', roomName);
    if (name) url.searchParams.set('name', name);
    url.searchParams.delete('join');
    history.replaceState(null, '', url);
  } catch (err) {
    ui.status.textContent = 'not connected';
    ui.join.disabled = false;
    logNotice(`could not join: ${(err as Error).message}`, 'error');
  }
}

async function leave(): Promise<void> {
  const current = room;
  room = null;
  delete ui.status.dataset.selfId;
  setJoined(false);
  renderPeers();
  ui.status.textContent = 'not connected';
  await current?.leave();
  logNotice('left the room', 'info');
}

function send(): void {
  const text = ui.message.value;
  if (!room || text.trim() === '') return;
  const to = ui.to.value === '' ? undefined : ui.to.value;
  const peers = room.peers();
  try {
    const result = room.send(text, to);
    const toName = to === undefined ? 'everyone' : (peers.find((p) => p.peerId === to)?.name ?? to);
    const paths = peers.filter((p) => result.sentTo.includes(p.peerId)).map((p) => p.path);
    logOutgoing(text, toName, paths, room.fingerprint !== undefined);
    for (const s of result.skipped) logNotice(`not sent to ${s.name}: ${s.reason}`, 'warn');
    if (result.sentTo.length === 0 && result.skipped.length === 0) {
      logNotice(peers.length === 0 ? 'nobody else is in the room yet' : 'no peer here can receive it (see the warnings above)', peers.length === 0 ? 'info' : 'warn');
    }
    ui.message.value = '';
  } catch (err) {
    logNotice(`not sent: ${(err as Error).message}`, 'error');
  }
}

// ------------------------------------------------------------------------------------ wiring

ui.room.value = params.get('room') ?? ui.room.value;
ui.name.value = params.get('name') ?? `browser-${Math.random().toString(36).slice(2, 6)}`;
if (params.get('e2ee') === '1') ui.e2ee.checked = true;
ui.joinForm.addEventListener('submit', (e) => {
  e.preventDefault();
  if (!room) void join();
});
ui.leave.addEventListener('click', () => void leave());
ui.sendForm.addEventListener('submit', (e) => {
  e.preventDefault();
  send();
});
window.addEventListener('pagehide', () => void room?.leave());
if (typeof RTCPeerConnection !== 'function') logNotice('this browser has no WebRTC: every peer will be reached through the hub relay', 'warn');
if (params.get('join') === '1') void join();
