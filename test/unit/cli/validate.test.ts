import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, onionfleet, runBin } from '../../support/cli.ts';

const FIXTURES = new URL('../../fixtures/invalid/', import.meta.url).pathname;
const expected = JSON.parse(readFileSync(join(FIXTURES, 'expected.json'), 'utf8')) as Record<string, string>;
const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.yaml')).sort();
const EXAMPLES = new URL('../../../deploy/examples/', import.meta.url).pathname;
const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

describe('onionfleet validate: broken fleets', () => {
  it('has a corpus of at least 25 broken fleets, each with an expected line', () => {
    expect(files.length).toBeGreaterThanOrEqual(25);
    expect(Object.keys(expected).sort()).toEqual(files);
  });

  it.each(files)('%s: exit 2, one line naming the file and the field, no stack trace', async (name) => {
    const path = join(FIXTURES, name);
    const before = sha(path);
    const run = await onionfleet('validate', '-f', path);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    const lines = run.stderr.trimEnd().split('\n');
    for (const line of lines) expect(line.startsWith(`${path}:`)).toBe(true);
    expect(lines).toContainEqual(expect.stringContaining(`${path}${expected[name] ?? '?'}`));
    expect(run.stderr).not.toMatch(/\n\s+at /);
    expect(sha(path)).toBe(before);
  });

  it('prints the problems as JSON on stdout with --json, still exit 2', async () => {
    const path = join(FIXTURES, '13-bad-tier.yaml');
    const run = await onionfleet('validate', '-f', path, '--json');
    expect(run.code).toBe(2);
    const body = JSON.parse(run.stdout) as { error: { code: string; problems: { path: string; message: string }[] } };
    expect(body.error.code).toBe('invalid-input');
    expect(body.error.problems).toEqual([{ source: path, path: 'groups.news.tier', message: 'expected one of standard, elevated, high, extreme' }]);
  });

  it('says so when the file does not exist', async () => {
    const run = await onionfleet('validate', '-f', '/nonexistent/fleet.yaml');
    expect(run.code).toBe(2);
    expect(run.stderr).toBe('/nonexistent/fleet.yaml: no such file\n');
  });
});

describe('onionfleet validate: the examples', () => {
  it.each(['family.yaml', 'ngo.yaml', 'newsroom.yaml', 'network.yaml'])('%s is valid', async (name) => {
    const run = await onionfleet('validate', '-f', join(EXAMPLES, name), '--json');
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ valid: true });
  });
});

describe('onionfleet validate as a process', () => {
  it('exits 2 with only the problem lines, and writes nothing in its working directory', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'onionfleet-validate-'));
    const path = join(FIXTURES, '05-duplicate-key.yaml');
    const run = await runBin(BIN.onionfleet, ['validate', '-f', path], { cwd });
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(`${path}:13:5: duplicate key "tier"\n`);
    expect(readdirSync(cwd)).toEqual([]);
  });

  it('exits 2 on an unknown flag', async () => {
    const run = await runBin(BIN.onionfleet, ['validate', '-f', 'x', '--fiel']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/unknown option '--fiel'/);
  });

  it('exits 0 on a valid fleet', async () => {
    const run = await runBin(BIN.onionfleet, ['validate', '-f', join(EXAMPLES, 'family.yaml')]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/valid — fleet family-garcia: 1 operator, 1 device \(1 active\), 1 group, 11 instances, 3 members/);
  });
});
