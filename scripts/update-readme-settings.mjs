#!/usr/bin/env node
// Regenerates the settings table in README.md from the code (test/unit/architecture.test.ts checks it).
import { readFileSync, writeFileSync } from 'node:fs';
import { settingsTable } from '../dist/index.js';

const file = new URL('../README.md', import.meta.url);
const text = readFileSync(file, 'utf8');
const start = text.indexOf('| Setting | Environment variable |');
if (start === -1) throw new Error('README.md has no settings table');
let end = text.indexOf('\n\n', start);
if (end === -1) end = text.length;
writeFileSync(file, text.slice(0, start) + settingsTable() + text.slice(end));
console.log('README.md settings table updated');
