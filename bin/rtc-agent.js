#!/usr/bin/env node
// Thin launcher: the CLI lives in dist/ (in the package; in a clone, built by `npm run build`).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('rtc-agent: dist/ is missing; run `npm run build`\n');
  process.exit(1);
}
const { main } = await import(entry.href);
await main(process.argv);
