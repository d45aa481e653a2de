import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sanitizeFileName } from '../../src/engine/files/file-name.js';
import { numberedName, pathInside } from '../../src/util/file-names.js';

describe('sanitizeFileName', () => {
  it.each([
    ['../../x', 'x'],
    ['/etc/passwd', 'passwd'],
    ['C:\\Windows\\win.ini', 'win.ini'],
    ['a\u0000b.txt', 'ab.txt'],
    ['..', 'file'],
    ['', 'file'],
    ['  .hidden  ', 'hidden'],
    ['CON', '_CON'],
    ['com1.txt', '_com1.txt'],
    ['what?.txt', 'what_.txt'],
    ['\u202eexe.txt', 'exe.txt'],
    ['report.pdf', 'report.pdf'],
  ])('%j → %j', (input, expected) => {
    expect(sanitizeFileName(input)).toBe(expected);
  });

  it('always yields one harmless path segment that stays inside the directory', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (name) => {
        const safe = sanitizeFileName(name);
        expect(safe.length).toBeGreaterThan(0);
        expect(safe).not.toMatch(/[/\\\u0000]/);
        expect(safe).not.toMatch(/^\.+$/);
        expect(Buffer.byteLength(safe)).toBeLessThanOrEqual(200);
        expect(pathInside('/tmp/downloads', safe).startsWith('/tmp/downloads/')).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('numbers names to avoid overwriting, keeping the extension', () => {
    expect(numberedName('a.txt', 0)).toBe('a.txt');
    expect(numberedName('a.txt', 2)).toBe('a (2).txt');
    expect(numberedName('noext', 1)).toBe('noext (1)');
  });

  it('refuses a path that would leave the directory', () => {
    expect(() => pathInside('/tmp/d', '../x')).toThrow(/leaves the download directory/);
  });
});
