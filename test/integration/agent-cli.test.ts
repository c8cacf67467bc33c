/**
 * The agent's smaller verbs as processes: render (files at their real paths below DIR, nothing
 * started), purge, and the single-file build that runs on a Pi. Plus `onionfleet desired`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DesiredState } from '#shared/schema/desired-state.ts';
import { desiredState } from '../builders/desired.ts';
import { BIN, onionfleet, runBin } from '../support/cli.ts';

const tmp = (name: string) => mkdtempSync(join(tmpdir(), `onionfleet-${name}-`));
const EXAMPLES = new URL('../../deploy/examples/', import.meta.url).pathname;

describe('onionfleet-agent render', () => {
  it('writes every managed file at its real path below DIR, lists them, and starts nothing', async () => {
    const dir = tmp('render');
    const desiredPath = join(dir, 'desired.json');
    writeFileSync(desiredPath, JSON.stringify(desiredState({ tier: 'elevated' })));
    const root = join(dir, 'root');
    const run = await runBin(BIN.agent, ['render', '--desired', desiredPath, '--root', root, '--json']);
    expect(run.code).toBe(0);
    const listed = JSON.parse(run.stdout) as { path: string; kind: string; mode: string }[];
    const kinds = new Set(listed.map((f) => f.kind));
    expect([...kinds].sort()).toEqual(['nftables', 'other', 'smp-ini', 'sshd', 'systemd', 'torrc', 'xftp-ini']);
    for (const f of listed) {
      expect(existsSync(join(root, f.path))).toBe(true);
      expect((statSync(join(root, f.path)).mode & 0o777).toString(8).padStart(4, '0')).toBe(f.mode);
    }
    expect(listed).toContainEqual({ path: '/etc/opt/simplex/newsroom-smp-01/smp-server.ini', kind: 'smp-ini', mode: '0600' });
    const hostname = readFileSync(join(root, '/var/lib/tor/onionfleet/newsroom-smp-01/hostname'), 'utf8').trim();
    expect(readFileSync(join(root, '/etc/opt/simplex/newsroom-smp-01/smp-server.ini'), 'utf8')).toContain(`host: ${hostname}`);
    expect(existsSync(join(root, 'run'))).toBe(false); // no supervisor, nothing started
  });
});

describe('onionfleet-agent purge', () => {
  it('refuses without --yes, then deletes the archive', async () => {
    const root = tmp('purge');
    execFileSync('mkdir', ['-p', join(root, 'var/lib/onionfleet/archive/2026-11-25-x-smp-01/config')]);
    const refused = await runBin(BIN.agent, ['purge', '--root', root]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--yes: required: purge deletes 1 archived instance\(s\) for good \(2026-11-25-x-smp-01\)/);
    const done = await runBin(BIN.agent, ['purge', '--root', root, '--yes', '--json']);
    expect(JSON.parse(done.stdout)).toEqual({ purged: ['2026-11-25-x-smp-01'] });
    expect(readdirSync(join(root, 'var/lib/onionfleet/archive'))).toEqual([]);
  });
});

describe('the single-file agent build', () => {
  it('bundles into one file that runs without node_modules', async () => {
    const dir = tmp('build');
    const out = join(dir, 'onionfleet-agent.mjs');
    execFileSync(process.execPath, [new URL('../../deploy/build-agent.mjs', import.meta.url).pathname, out]);
    const desiredPath = join(dir, 'desired.json');
    writeFileSync(desiredPath, JSON.stringify(desiredState()));
    const run = await runBin(out, ['apply', '--desired', desiredPath, '--root', join(dir, 'root'), '--dry-run', '--json'], { cwd: dir });
    expect(run.code).toBe(0);
    expect((JSON.parse(run.stdout) as { steps: string[] }).steps.length).toBeGreaterThan(10);
  });
});

describe('onionfleet desired', () => {
  it('writes a parsable desired state, mode 0600, and keeps passwords with --previous-desired', async () => {
    const dir = tmp('desired');
    const first = join(dir, 'd1.json');
    const run = await onionfleet('desired', '-f', join(EXAMPLES, 'family.yaml'), '--device', 'pi-home', '--out', first);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/pi-home revision 1, 10 SMP instances and 1 XFTP instance/);
    expect(statSync(first).mode & 0o777).toBe(0o600);
    const a = DesiredState.parse(JSON.parse(readFileSync(first, 'utf8')));
    const second = join(dir, 'd2.json');
    await onionfleet('desired', '-f', join(EXAMPLES, 'family.yaml'), '--device', 'pi-home', '--previous-desired', first, '--out', second);
    const b = DesiredState.parse(JSON.parse(readFileSync(second, 'utf8')));
    expect(b).toEqual(a);
  });

  it('exits 2 for an unknown device, naming the devices there are', async () => {
    const run = await onionfleet('desired', '-f', join(EXAMPLES, 'family.yaml'), '--device', 'nope', '--out', join(tmp('desired'), 'x.json'));
    expect(run.code).toBe(2);
    expect(run.stderr).toBe('--device: no device "nope" in ' + join(EXAMPLES, 'family.yaml') + ' (have: pi-home)\n');
  });
});
