/**
 * The tmux terminal the CLI tests read (helpers.ts): a command that prints and exits at once must
 * leave its screen readable, or a test waiting for a chat's last line races its exit.
 */
import { describe, expect, it } from 'vitest';
import { waitUntil } from '../helpers/wait.js';
import { NO_TMUX, Terminal, hasTmux } from './helpers.js';

if (!hasTmux) console.warn(NO_TMUX);

describe.skipIf(!hasTmux)('Terminal (tmux)', () => {
  it('keeps the screen of a command that printed its last lines and exited; alive() says it ended', async () => {
    // It exits when told (a line on stdin), after its output was on the screen: tmux itself may
    // lose the output of a command that exits within a millisecond of starting, which is not
    // what the helper is for.
    const t = Terminal.open(`ended-${process.pid}`, `sh -c 'echo first words; echo last words; read x; exit 3'`);
    await t.waitFor(/last words/);
    t.type('');
    await waitUntil(() => !t.alive(), { what: 'the command to end', intervalMs: 20 });
    const screen = t.screen();
    expect(screen).toContain('first words');
    expect(screen).toContain('last words');
  });
});
