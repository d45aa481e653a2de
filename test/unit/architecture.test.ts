/**
 * The layering rules of the codebase, checked on every run: imports point down only, the hub
 * depends on nothing but protocol and base, and node-datachannel is imported in exactly one module.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));
const BASE = ['errors', 'constants', 'log', 'config', 'util'];

/** For each layer, the layers it may import (itself always allowed). */
const ALLOWED: Record<string, string[]> = {
  base: [],
  protocol: ['base'],
  // The platform-neutral peer engine (no Node, no DOM: tsconfig.engine.json checks that).
  engine: ['protocol', 'base'],
  crypto: ['protocol', 'base'],
  signaling: ['engine', 'protocol', 'base'],
  transport: ['engine', 'signaling', 'crypto', 'protocol', 'base'],
  // Node platform code behind the engine's seams (files, node:crypto).
  node: ['engine', 'protocol', 'base'],
  room: ['engine', 'transport', 'signaling', 'crypto', 'protocol', 'base'],
  agent: ['node', 'room', 'engine', 'transport', 'signaling', 'crypto', 'protocol', 'base'],
  daemon: ['agent', 'node', 'room', 'engine', 'transport', 'signaling', 'crypto', 'protocol', 'base'],
  hub: ['protocol', 'base'],
  // The browser build of the library: the engine with browser seams.
  browser: ['engine', 'transport', 'signaling', 'protocol', 'base'],
  // Browser code (served by the hub as files, never imported by it): only modules free of Node APIs.
  web: ['browser', 'protocol', 'base'],
  cli: ['daemon', 'agent', 'node', 'room', 'engine', 'transport', 'signaling', 'crypto', 'protocol', 'hub', 'base'],
  index: ['daemon', 'agent', 'node', 'room', 'engine', 'transport', 'signaling', 'crypto', 'protocol', 'hub', 'base'],
};

function layerOf(file: string): string {
  const top = relative(SRC, file).split(/[\\/]/)[0]!.replace(/\.[jt]s$/, '');
  return BASE.includes(top) ? 'base' : top;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : name.endsWith('.ts') ? [path] : [];
  });
}

function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:^|\n)\s*(?:import|export)[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => (m[1] ?? m[2])!);
}

describe('architecture', () => {
  const files = sourceFiles(SRC);

  it('knows the layer of every source folder', () => {
    for (const file of files) expect(Object.keys(ALLOWED), relative(SRC, file)).toContain(layerOf(file));
  });

  it('imports point down the layers only', () => {
    const violations: string[] = [];
    for (const file of files) {
      const from = layerOf(file);
      for (const spec of imports(file)) {
        if (!spec.startsWith('.')) continue;
        const target = layerOf(join(file, '..', spec));
        if (target !== from && !ALLOWED[from]!.includes(target)) violations.push(`${relative(SRC, file)} (${from}) imports ${spec} (${target})`);
      }
    }
    expect(violations).toEqual([]);
  });

  it('imports node-datachannel in at most one module', () => {
    const importers = files.filter((f) => imports(f).some((s) => s === 'node-datachannel' || s.startsWith('node-datachannel/')));
    expect(importers.length).toBeLessThanOrEqual(1);
  });
});

describe('documentation', () => {
  it('lists every error code in the README', async () => {
    const { ErrorCode } = await import('../../src/errors.js');
    const readme = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');
    const missing = Object.values(ErrorCode).filter((code) => !readme.includes(`\`${code}\``));
    expect(missing).toEqual([]);
  });

  it('has the settings table the code generates', async () => {
    const { settingsTable } = await import('../../src/config/agent-settings.js');
    const readme = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');
    expect(readme).toContain(settingsTable());
  });
});
