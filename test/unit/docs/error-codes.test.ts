/**
 * The catalogue of error codes and its page: docs/troubleshooting.md holds exactly the table the
 * catalogue renders (run `npm run docs:errors` after changing a code), every code is lower-case
 * kebab, and every code the sources throw is in the catalogue (the type checker proves the rest).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, errorCodeTable, TABLE_MARKERS } from '#shared/error-codes.ts';

const doc = readFileSync(new URL('../../../docs/troubleshooting.md', import.meta.url), 'utf8');

describe('error codes', () => {
  it('docs/troubleshooting.md lists every code with its exit code, meaning and hint', () => {
    const [begin, end] = TABLE_MARKERS;
    const block = doc.slice(doc.indexOf(begin) + begin.length, doc.indexOf(end)).trim();
    expect(block, 'run `npm run docs:errors`').toBe(errorCodeTable());
    for (const code of Object.keys(ERROR_CODES)) expect(block).toContain(`| \`${code}\` |`);
  });

  it('are lower-case kebab words, each with a meaning', () => {
    for (const [code, info] of Object.entries(ERROR_CODES)) {
      expect(code).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
      expect(info.meaning.length).toBeGreaterThan(10);
    }
  });
});
