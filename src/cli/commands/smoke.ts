import { Command } from 'commander';
import type { CliContext } from '../context.js';

// Placeholder: being written. Registered so the program's command list is complete.
export function makeSmokeCommand(_ctx: CliContext): Command {
  return new Command('smoke').description('(not available yet)');
}
