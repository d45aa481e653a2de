/**
 * The package as a consumer gets it. A copy of this checkout (without node_modules, dist/ and .git)
 * is packed with `npm pack`, so prepack's clean build runs from nothing and the dist/ other tests
 * use is left alone; the tarball is installed into an empty directory, and there the CLI
 * (`npx rtc-agent smoke --peers 2`), a TypeScript consumer and a CommonJS consumer must work.
 *
 * The consumer's dependencies come from npm's cache, pinned by a lockfile made from this checkout's
 * package-lock.json, so it gets the versions this suite tests. The registry is asked only for what
 * the cache lacks, and not at all when this machine has no interface but loopback (the test network
 * namespace of scripts/test.mjs and CI), where it cannot answer and a fetch would only hang.
 * Skipped, with the reason printed, only when npm itself does not run.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** prepack's clean tsc (and browser) build of the whole tree: tens of seconds on a shared 2-core machine. */
const PACK_TIMEOUT_MS = 300_000;
/** An install from the cache takes seconds; a registry round trip for a cache miss can add a minute. */
const INSTALL_TIMEOUT_MS = 180_000;
/** tsc over the consumer and every declaration it reaches (skipLibCheck off). */
const TSC_TIMEOUT_MS = 180_000;
/** smoke ends by itself (its own default timeout); this only turns a hang into a failure. */
const SMOKE_TIMEOUT_MS = 120_000;
const CONSUMER_TIMEOUT_MS = 60_000;
/** Top-level entries of the checkout that are not sources: rebuilt, installed, or local state. */
const NOT_COPIED = new Set(['node_modules', 'dist', '.git', 'test-artifacts', 'scratch']);
/** Lifecycle scripts npm runs in a consumer's install (npm 11 warns about each package that has one). */
const INSTALL_SCRIPTS = ['preinstall', 'install', 'postinstall', 'preprepare', 'prepare', 'postprepare'];

const npmVersion = spawnSync('npm', ['--version'], { encoding: 'utf8', timeout: 30_000 });
const skipReason = npmVersion.error ? `npm does not run (${npmVersion.error.message})` : npmVersion.status !== 0 ? `npm --version exited ${npmVersion.status}: ${npmVersion.stderr}` : undefined;
if (skipReason) console.warn(`package tests skipped: ${skipReason}`);

/** The registry can only be reached when some interface other than loopback exists. */
const offline = Object.values(networkInterfaces()).every((addrs) => (addrs ?? []).every((a) => a.internal));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

const children = new Set<ChildProcess>();

/** Environment of a user's shell: no npm lifecycle variables from an outer `npm test`, no RTC_AGENT_* settings. */
function cleanEnv(): NodeJS.ProcessEnv {
  // npm passes its whole config to scripts as npm_config_*; only where the cache and registry are
  // (what a user's npmrc would say) is kept, so `offline`, `local_prefix` and the like don't leak in.
  const keep = new Set(['npm_config_cache', 'npm_config_registry', 'npm_config_userconfig']);
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('RTC_AGENT_') && (!k.toLowerCase().startsWith('npm_') || keep.has(k.toLowerCase()))));
}

/** Runs a command in its own process group, killed whole if it outlives `timeoutMs`. */
function run(command: string, args: string[], cwd: string, timeoutMs: number): Promise<Run> {
  const child = spawn(command, args, { cwd, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      killGroup(child);
      reject(new Error(`${command} ${args.join(' ')} did not exit within ${timeoutMs} ms; stderr: ${stderr.slice(-3000)}`));
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      children.delete(child);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

function describeRun(r: Run): string {
  return `exit ${r.code}\n--- stdout\n${r.stdout.slice(-4000)}\n--- stderr\n${r.stderr.slice(-4000)}`;
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
}

interface PackResult {
  filename: string;
  integrity: string;
  size: number;
  files: { path: string }[];
}

interface LockEntry {
  version?: string;
  resolved?: string;
  dev?: boolean;
  [key: string]: unknown;
}

/**
 * The lockfile of a project whose only dependency is the tarball: this checkout's non-dev entries,
 * each with its registry tarball URL, so npm takes them from the cache by integrity and needs no
 * registry metadata for them.
 */
function consumerLock(pkg: Record<string, unknown>, pack: PackResult, registry: string): object {
  const repoLock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const spec = `file:${pack.filename}`;
  const packages: Record<string, unknown> = {
    '': { name: 'consumer', version: '1.0.0', dependencies: { 'rtc-agent': spec } },
    'node_modules/rtc-agent': {
      version: pkg.version,
      resolved: spec,
      integrity: pack.integrity,
      license: pkg.license,
      dependencies: pkg.dependencies,
      bin: pkg.bin,
      engines: pkg.engines,
    },
  };
  for (const [key, entry] of Object.entries(repoLock.packages)) {
    if (key === '' || entry.dev) continue;
    const name = key.slice(key.lastIndexOf('node_modules/') + 'node_modules/'.length);
    const resolved = entry.resolved ?? `${registry}${name}/-/${name.split('/').pop()}-${entry.version}.tgz`;
    packages[key] = { ...entry, resolved };
  }
  return { name: 'consumer', version: '1.0.0', lockfileVersion: 3, requires: true, packages };
}

/** Every file path a package.json `exports` value points at. */
function exportTargets(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (value && typeof value === 'object') return Object.values(value).flatMap(exportTargets);
  return [];
}

/** Relative link targets of a markdown file, without anchors. */
function relativeLinks(markdown: string): string[] {
  return [...markdown.matchAll(/\]\(([^)\s]+)\)/g)]
    .map((m) => m[1]!.split('#')[0]!)
    .filter((target) => target !== '' && !/^[a-z][a-z0-9+.-]*:/i.test(target));
}

const TS_CONSUMER = `import { createAgent, startHub, isRtcAgentError, type Agent, type ReceivedMessage } from 'rtc-agent';

const hub = await startHub({ port: 0, host: '127.0.0.1' });
const agent: Agent = await createAgent({ hubUrl: hub.url, name: 'ts-consumer' });
agent.on('message', (m: ReceivedMessage) => {
  const path: 'p2p' | 'relay' = m.path;
  const text: string | undefined = m.text;
  console.log(path, text);
});
// The declarations are real, not \`any\`: a wrong option type must be refused.
// @ts-expect-error hubUrl is a string
void createAgent({ hubUrl: 42 });
try {
  await agent.join('lobby');
} catch (err) {
  if (isRtcAgentError(err)) console.log(err.code);
}
await agent.close();
await hub.close();
`;

// TypeScript's CommonJS view of the same types (require of an ES module, --module nodenext).
const CTS_CONSUMER = `import rtc = require('rtc-agent');

const hub: Promise<rtc.Hub> = rtc.startHub({ port: 0 });
void hub;
`;

const TS_CONFIG = (typeRoots: string): string =>
  JSON.stringify(
    {
      compilerOptions: {
        module: 'nodenext',
        moduleResolution: 'nodenext',
        target: 'es2022',
        strict: true,
        noEmit: true,
        // Check our shipped declarations too, as a consumer's strict build would.
        skipLibCheck: false,
        types: ['node'],
        // A consumer brings its own @types/node; this one is the checkout's.
        typeRoots: [typeRoots],
      },
      files: ['consumer.ts', 'consumer-cjs.cts'],
    },
    null,
    2,
  );

const CJS_CONSUMER = `'use strict';
const rtc = require('rtc-agent');
const { createAgent, startHub } = rtc;

async function main() {
  const hub = await startHub({ port: 0, host: '127.0.0.1' });
  const options = (name) => ({ hubUrl: hub.url, name, env: {}, logLevel: 'warn', iceBindAddress: '127.0.0.1' });
  const alice = await createAgent(options('alice'));
  const bob = await createAgent(options('bob'));
  try {
    const aliceRoom = await alice.join('cjs');
    const bobJoined = new Promise((resolve) => alice.once('peer-joined', resolve));
    const received = new Promise((resolve) => bob.once('message', resolve));
    await bob.join('cjs');
    await bobJoined;
    await aliceRoom.send('hello through require()');
    const message = await received;
    const viaImport = await import('rtc-agent');
    console.log(JSON.stringify({
      text: message.text,
      from: message.name,
      sameModule: viaImport === rtc,
      version: require('rtc-agent/package.json').version,
    }));
  } finally {
    await alice.close();
    await bob.close();
    await hub.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
`;

describe.skipIf(skipReason !== undefined)('the npm package, installed from its tarball', () => {
  let work = '';
  let consumer = '';
  let installed = '';
  let pack: PackResult;
  let install: Run;
  let stagedPkg: Record<string, unknown>;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'rtc-agent-pack-'));
    const stage = join(work, 'stage');
    cpSync(ROOT, stage, {
      recursive: true,
      filter: (src) => {
        const rel = relative(ROOT, src);
        return !NOT_COPIED.has(rel.split(sep)[0]!) && !rel.split(sep).includes('node_modules');
      },
    });
    // prepack's build needs the checkout's tools (tsc, esbuild); the tarball never includes node_modules.
    symlinkSync(join(ROOT, 'node_modules'), join(stage, 'node_modules'), 'dir');
    stagedPkg = JSON.parse(readFileSync(join(stage, 'package.json'), 'utf8')) as Record<string, unknown>;

    const packed = await run('npm', ['pack', '--json', '--pack-destination', work], stage, PACK_TIMEOUT_MS);
    expect(packed.code, `npm pack failed: ${describeRun(packed)}`).toBe(0);
    // Script output may precede npm's JSON on stdout; the JSON array starts on its own line.
    const json = packed.stdout.slice(packed.stdout.search(/^\[/m));
    pack = (JSON.parse(json) as PackResult[])[0]!;
    console.log(`[package] ${pack.filename}: ${pack.files.length} files, ${Math.round(pack.size / 1024)} KiB packed`);

    consumer = join(work, 'consumer');
    cpSync(join(work, pack.filename), join(consumer, pack.filename));
    writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module', dependencies: { 'rtc-agent': `file:${pack.filename}` } }, null, 2));
    const registry = spawnSync('npm', ['config', 'get', 'registry'], { encoding: 'utf8', env: cleanEnv(), timeout: 30_000 }).stdout.trim().replace(/\/?$/, '/');
    writeFileSync(join(consumer, 'package-lock.json'), JSON.stringify(consumerLock(stagedPkg, pack, registry), null, 2));
    const mode = offline ? '--offline' : '--prefer-offline';
    console.log(`[package] npm ci ${mode} (${offline ? 'no interface but loopback: cache only' : 'cache first, registry for misses'})`);
    install = await run('npm', ['ci', mode, '--no-audit', '--no-fund'], consumer, INSTALL_TIMEOUT_MS);
    expect(install.code, `installing the tarball failed: ${describeRun(install)}`).toBe(0);
    installed = join(consumer, 'node_modules', 'rtc-agent');
  }, PACK_TIMEOUT_MS + INSTALL_TIMEOUT_MS + 60_000);

  afterAll(() => {
    for (const child of children) killGroup(child);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('ships the MIT license and every file its documents link to', () => {
    const files = new Set(pack.files.map((f) => f.path));
    expect(readFileSync(join(installed, 'LICENSE'), 'utf8')).toMatch(/^MIT License/);
    expect(stagedPkg.license).toBe('MIT');

    const documents = ['README.md', ...[...files].filter((f) => /^docs\/[^/]+\.md$/.test(f))];
    const broken = documents.flatMap((doc) =>
      relativeLinks(readFileSync(join(installed, doc), 'utf8'))
        .filter((target) => !existsSync(resolve(installed, dirname(doc), target)))
        .map((target) => `${doc} → ${target}`),
    );
    expect(broken, 'links to files the package does not ship').toEqual([]);
    expect([...files].filter((f) => /^(test|scripts|interop\/support|interop\/aspnet-hub\/(bin|obj))\//.test(f) || f.includes('node_modules/')), 'repository-only files in the tarball').toEqual([]);
  });

  it('ships every file package.json exports', () => {
    const targets = exportTargets(stagedPkg.exports).filter((t) => !t.includes('*'));
    expect(targets).toContain('./dist/index.js');
    expect(targets.filter((t) => !existsSync(join(installed, t))), 'exports pointing at files not in the tarball').toEqual([]);
    // An export added later (the browser bundle) is held to the same check once package.json names it.
    console.log(`[package] exports: ${Object.keys(stagedPkg.exports as object).join(', ')}`);
  });

  it('ships the sources every source map names (or the map carries them)', () => {
    const shipped = walk(installed);
    const maps = shipped.filter((f) => f.endsWith('.map'));
    expect(maps.length).toBeGreaterThan(0);
    const missingSources = maps.flatMap((map) => {
      const m = JSON.parse(readFileSync(map, 'utf8')) as { sources: string[]; sourceRoot?: string; sourcesContent?: (string | null)[] };
      return m.sources
        .filter((source, i) => m.sourcesContent?.[i] == null && !existsSync(resolve(dirname(map), m.sourceRoot ?? '', source)))
        .map((source) => `${relative(installed, map)} → ${source}`);
    });
    expect(missingSources, 'source maps pointing at files the package does not ship').toEqual([]);
    const danglingMapUrls = shipped
      .filter((f) => /\.(js|mjs|cjs|d\.ts)$/.test(f))
      .flatMap((f) => {
        const url = /\/\/# sourceMappingURL=(\S+)\s*$/.exec(readFileSync(f, 'utf8'))?.[1];
        return url && !url.startsWith('data:') && !existsSync(resolve(dirname(f), url)) ? [`${relative(installed, f)} → ${url}`] : [];
      });
    expect(danglingMapUrls, 'sourceMappingURL comments naming missing maps').toEqual([]);
  });

  it('runs no script when installed, so npm has nothing to warn the consumer about', () => {
    const scripts = (JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as { scripts?: Record<string, string> }).scripts ?? {};
    expect(INSTALL_SCRIPTS.filter((s) => s in scripts)).toEqual([]);
    // npm 11 lists each package whose install scripts it did not run ("rtc-agent@0.1.0 (prepare: …)").
    expect(`${install.stdout}\n${install.stderr}`).not.toMatch(/rtc-agent@\S+ \((pre|post)?(install|prepare)\b/);
  });

  it('npx rtc-agent smoke --peers 2 passes in the consumer', async () => {
    expect(existsSync(join(consumer, 'node_modules', '.bin', 'rtc-agent'))).toBe(true);
    const smoke = await run('npx', ['rtc-agent', 'smoke', '--peers', '2'], consumer, SMOKE_TIMEOUT_MS);
    expect(smoke.code, describeRun(smoke)).toBe(0);
    expect(smoke.stdout).toMatch(/smoke-1 <-> smoke-2 .* ok/);
    expect(smoke.stdout).toMatch(/^PASS/m);
  }, SMOKE_TIMEOUT_MS + 10_000);

  it('a TypeScript consumer typechecks against the installed declarations (ES module and CommonJS views)', async () => {
    writeFileSync(join(consumer, 'consumer.ts'), TS_CONSUMER);
    writeFileSync(join(consumer, 'consumer-cjs.cts'), CTS_CONSUMER);
    writeFileSync(join(consumer, 'tsconfig.json'), TS_CONFIG(join(ROOT, 'node_modules', '@types')));
    const tsc = await run(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], consumer, TSC_TIMEOUT_MS);
    expect(tsc.code, describeRun(tsc)).toBe(0);
  }, TSC_TIMEOUT_MS + 10_000);

  it('a CommonJS consumer require()s it, starts a hub and two agents that talk, and gets the same module as import()', async () => {
    writeFileSync(join(consumer, 'consumer.cjs'), CJS_CONSUMER);
    const cjs = await run(process.execPath, ['consumer.cjs'], consumer, CONSUMER_TIMEOUT_MS);
    expect(cjs.code, describeRun(cjs)).toBe(0);
    // Node 20.19+ loads an ES module graph without top-level await through require(), silently.
    expect(cjs.stderr).not.toMatch(/ERR_REQUIRE|ExperimentalWarning/);
    const lastLine = cjs.stdout.trim().split('\n').pop() ?? '';
    expect(JSON.parse(lastLine)).toEqual({ text: 'hello through require()', from: 'alice', sameModule: true, version: stagedPkg.version });
  }, CONSUMER_TIMEOUT_MS + 10_000);
});
