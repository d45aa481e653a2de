/**
 * The chat page the hub serves at `/` (HTML in src/hub/web-page.ts): join a room under a display
 * name, chat with everyone or one peer, send files, and see each peer's path (p2p or relay). All of
 * the room logic is the library's browser build (src/browser, served as /rtc-agent.js), the same
 * engine Node agents run; this file is the DOM and the glue. User-supplied text is only ever set as
 * textContent.
 *
 * E2EE (checkbox): as agents with --e2ee, with an optional room secret that must match theirs. The
 * page's identity is made per join (not stored), so its fingerprint, shown in the header, changes
 * on every reload. Each peer shows its fingerprint; sealed messages carry a lock.
 *
 * URL parameters prefill the form: `?room=ops&name=alice`; `&e2ee=1` ticks E2EE; `&join=1` joins at
 * once. A token for a hub with auth goes in the fragment (`#token=…`), which the browser never sends
 * to the server.
 */
import { createAgent, ErrorCode, ROOM_NAME_PATTERN, type BrowserAgent, type BrowserAgentOptions, type Room } from '../browser/index.js';
import { logFile, logIncoming, logNotice, logOutgoing, renderPeers, scheduleRender, showPeersOf, ui } from './view.js';

const hubPath = document.querySelector<HTMLMetaElement>('meta[name="rtc-agent-hub-path"]')?.content ?? '/hub';
const hubUrl = new URL(hubPath, location.origin).toString();
const params = new URLSearchParams(location.search);
const token = new URLSearchParams(location.hash.slice(1)).get('token') ?? undefined;

let agent: BrowserAgent | null = null;
let room: Room | null = null;
let redrawTimer: ReturnType<typeof setInterval> | null = null;
/** Set while room.send() runs: the engine's "nothing is sent to it" errors are shown as send notices instead. */
let sending = false;
/** Peers already named as skipped by a broadcast (once each, as the engine warns once). */
const skipWarned = new Set<string>();

/**
 * The console handle: the current room and agent, and `agentKey`, which (when set) the next join
 * uses instead of a fresh random key, once; `heartbeatMs` for the next joins (default 5 s, as
 * agents). For tests that need a particular peer id ordering or quick heartbeats, and for poking
 * at the page; anyone with the console controls the page anyway.
 */
const handle: { readonly room: Room | null; readonly agent: BrowserAgent | null; agentKey: string | undefined; heartbeatMs: number | undefined } = {
  get room(): Room | null {
    return room;
  },
  get agent(): BrowserAgent | null {
    return agent;
  },
  agentKey: undefined,
  heartbeatMs: undefined,
};
(globalThis as { rtcAgentChat?: unknown }).rtcAgentChat = handle;
showPeersOf(() => room);

function setJoined(joined: boolean): void {
  for (const input of [ui.room, ui.name, ui.e2ee, ui.roomSecret]) input.disabled = joined;
  if (!joined) {
    ui.fingerprint.textContent = '';
    delete ui.fingerprint.dataset.fingerprint;
    delete ui.status.dataset.selfId;
  }
  ui.join.hidden = joined;
  ui.join.disabled = false;
  ui.leave.hidden = !joined;
  for (const control of [ui.message, ui.send, ui.sendFile]) control.disabled = !joined;
  if (joined) {
    redrawTimer ??= setInterval(renderPeers, 1_000);
    ui.message.focus();
  } else if (redrawTimer) {
    clearInterval(redrawTimer);
    redrawTimer = null;
  }
}

function showSelf(current: Room, secret: boolean): void {
  ui.status.textContent = `in room ${current.name} as ${current.self.name} (${current.selfId})`;
  ui.status.dataset.selfId = current.selfId;
  const fp = agent?.fingerprint;
  if (fp !== undefined) {
    ui.fingerprint.textContent = `🔒 E2EE${secret ? ' with room secret' : ''} · your fingerprint ${fp}`;
    ui.fingerprint.dataset.fingerprint = fp;
  }
  document.title = `${current.name} · rtc-agent chat`;
}

/** Back to the join form (left, or the hub connection is gone for good). */
function reset(status: string): void {
  room = null;
  agent = null;
  setJoined(false);
  renderPeers();
  ui.status.textContent = status;
}

/** What the agent says goes to the log; the agent is the page's only one while it is current. */
function wire(current: BrowserAgent, secret: boolean): void {
  const mine = (): boolean => agent === current;
  current.on('message', (m) => {
    if (mine()) logIncoming(m);
  });
  current.on('peer-joined', (p) => {
    if (!mine()) return;
    if (p.reason !== 'present') logNotice(p.reason === 'resumed' ? `${p.name} is back` : `${p.name} joined`, 'info');
    if (!p.canSend) logNotice(`${p.cannotSendReason ?? p.name}; nothing is sent to it`, 'warn');
    scheduleRender();
  });
  current.on('peer-left', (p) => {
    if (!mine()) return;
    logNotice(`${p.name} left (${p.reason})`, 'info');
    scheduleRender();
  });
  current.on('path-changed', (c) => {
    if (!mine()) return;
    if (c.from !== 'none') logNotice(`${c.name}: ${c.from} → ${c.to} (${c.reason})`, 'info');
    scheduleRender();
  });
  current.on('error', (err) => {
    if (!mine() || (sending && err.code === ErrorCode.E2EE_PLAINTEXT)) return;
    logNotice(err.message, 'error');
    scheduleRender();
  });
  current.on('delivery-refused', (r) => {
    if (mine()) logNotice(`${r.name} could not read what was sent to it: ${r.reason}`, 'error');
  });
  current.on('file-received', (f) => {
    if (mine()) logFile(f);
  });
  current.on('file-failed', (f) => {
    if (mine()) logNotice(`file ${f.name} ${f.direction === 'send' ? 'not sent' : 'not received'}: ${f.reason}`, 'warn');
  });
  current.on('hub', (state) => {
    if (!mine()) return;
    if (state === 'reconnecting') ui.status.textContent = 'hub connection lost; reconnecting…';
    else if (state === 'connected' && room) showSelf(room, secret);
    else if (state === 'closed') {
      logNotice('disconnected from the hub', 'error');
      reset('disconnected from the hub');
    }
  });
}

async function join(): Promise<void> {
  const roomName = ui.room.value.trim();
  const name = ui.name.value.trim();
  const e2ee = ui.e2ee.checked;
  const secret = ui.roomSecret.value;
  if (!ROOM_NAME_PATTERN.test(roomName)) {
    logNotice('invalid room name: use 1-64 of A-Z a-z 0-9 . _ - starting with a letter or digit', 'error');
    return;
  }
  if (!e2ee && secret !== '') {
    logNotice('a room secret only means something with E2EE: tick E2EE or clear the room secret', 'error');
    return;
  }
  ui.join.disabled = true;
  ui.status.textContent = e2ee && secret !== '' ? `deriving the room key and joining ${roomName}…` : `joining ${roomName}…`;
  const options: BrowserAgentOptions = { hubUrl, name: name === '' ? 'browser' : name };
  if (token !== undefined) options.accessToken = token;
  if (handle.agentKey !== undefined) options.agentKey = handle.agentKey;
  handle.agentKey = undefined; // once: a reload or the next join gets a fresh peer id
  if (handle.heartbeatMs !== undefined) options.heartbeatIntervalMs = handle.heartbeatMs;
  if (e2ee) options.e2ee = secret === '' ? {} : { roomSecret: secret };
  let current: BrowserAgent | undefined;
  try {
    current = await createAgent(options);
    agent = current;
    skipWarned.clear();
    wire(current, secret !== '');
    const joined = await current.join(roomName, { meta: { client: 'browser' } });
    room = joined;
    showSelf(joined, secret !== '');
    setJoined(true);
    logNotice(`joined ${joined.name} as ${joined.self.name}; ${joined.peers().length} other peer(s) here`, 'info');
    renderPeers();
    const url = new URL(location.href);
    url.searchParams.set('room', roomName);
    if (name) url.searchParams.set('name', name);
    url.searchParams.delete('join');
    history.replaceState(null, '', url);
  } catch (err) {
    if (current && agent === current) agent = null;
    await current?.close({ flushMs: 0 });
    ui.status.textContent = 'not connected';
    ui.join.disabled = false;
    logNotice(`could not join: ${(err as Error).message}`, 'error');
  }
}

async function leave(): Promise<void> {
  const current = agent;
  reset('not connected');
  await current?.close();
  logNotice('left the room', 'info');
}

function send(): void {
  const text = ui.message.value;
  if (!room || text.trim() === '') return;
  const to = ui.to.value === '' ? undefined : ui.to.value;
  const peers = room.peers();
  // A broadcast goes to the peers that can read it; the engine never sends the others plaintext.
  const targets = peers.filter((p) => (to === undefined ? p.canSend : p.peerId === to));
  const skipped = to === undefined ? peers.filter((p) => !p.canSend && !skipWarned.has(p.peerId)) : [];
  let pending: Promise<void>;
  sending = true;
  try {
    pending = room.send(text, to === undefined ? {} : { to });
  } finally {
    sending = false;
  }
  const toName = to === undefined ? 'everyone' : (peers.find((p) => p.peerId === to)?.name ?? to);
  logOutgoing(text, toName, targets.map((p) => p.path), agent?.fingerprint !== undefined);
  for (const p of skipped) {
    skipWarned.add(p.peerId);
    logNotice(`not sent to ${p.name}: ${p.cannotSendReason ?? 'it cannot read it'}`, 'warn');
  }
  if (targets.length === 0 && skipped.length === 0) {
    logNotice(peers.length === 0 ? 'nobody else is in the room yet' : 'no peer here can receive it (see the warnings above)', peers.length === 0 ? 'info' : 'warn');
  }
  ui.message.value = '';
  pending.catch((err: unknown) => logNotice(`not sent: ${(err as Error).message}`, 'error'));
  scheduleRender();
}

function sendFiles(files: FileList | null): void {
  const current = room;
  if (!current || !files) return;
  const to = ui.to.value === '' ? undefined : ui.to.value;
  for (const file of Array.from(files)) {
    logNotice(`sending ${file.name} (${file.size} bytes)…`, 'info');
    current.sendFile(file, to === undefined ? {} : { to }).then(
      (sent) => logNotice(`${sent.name} delivered to ${sent.deliveredTo.length} peer(s), SHA-256 verified`, 'info'),
      (err: unknown) => logNotice(`${file.name} not sent: ${(err as Error).message}`, 'error'),
    );
  }
  ui.file.value = '';
}

ui.room.value = params.get('room') ?? ui.room.value;
ui.name.value = params.get('name') ?? `browser-${Math.random().toString(36).slice(2, 6)}`;
if (params.get('e2ee') === '1') ui.e2ee.checked = true;
ui.joinForm.addEventListener('submit', (e) => {
  e.preventDefault();
  if (!agent) void join();
});
ui.leave.addEventListener('click', () => void leave());
ui.sendForm.addEventListener('submit', (e) => {
  e.preventDefault();
  send();
});
ui.sendFile.addEventListener('click', () => ui.file.click());
ui.file.addEventListener('change', () => sendFiles(ui.file.files));
window.addEventListener('pagehide', () => void agent?.close({ flushMs: 0 }));
if (typeof RTCPeerConnection !== 'function') logNotice('this browser has no WebRTC: every peer will be reached through the hub relay', 'warn');
if (params.get('join') === '1') void join();
