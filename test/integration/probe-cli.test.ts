/**
 * `onionfleet probe` and the agents' self-probe through the whole control plane: the real
 * nats-server, two real agents running the SimpleX doubles, and a real SOCKS5 proxy (microsocks)
 * standing in for Tor. microsocks cannot reach a .onion, so every probe here is "unreachable" —
 * the reachable and wrong-identity paths over SOCKS are probe-socks.test.ts's, the real onion
 * path the e2e suite's. What this proves: targets come from the devices' sealed statuses; the
 * first run pins every instance (state/pins.json, 0600); an instance re-created behind the same
 * onion (new CA, same address) is an ALARM (exit 1, verdict alarm), never hidden behind unreachable (exit 4); output and
 * logs never show an onion in full; a device with `tor.selfProbe` reports `onionProbe` and
 * `status` shows it, a sandbox device without it reports none.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PinsFile } from '../../controller/probe/model.ts';
import { PATHS } from '../../agent/render/paths.ts';
import { EXIT } from '#shared/errors.ts';
import { DesiredState } from '#shared/schema/desired-state.ts';
import { BIN, onionfleet, runBin } from '../support/cli.ts';
import { FleetHarness, fleetYaml } from '../support/fleet-harness.ts';
import { startMicrosocks, stopChild, until } from '../support/processes.ts';

interface ProbeJson {
  verdict: string;
  exitCode: number;
  socks: { address: string; source: string };
  groups: { group: string; verdict: string; summary: string; instances: { instance: string; device: string; onion: string | null; verdict: string; reachable: boolean | null; problem: string | null; alarms: { reason: string }[]; expectedFingerprint: string | null; reportedFingerprint: string | null }[] }[];
  devices: { device: string; problem: string }[];
  pinned: string[];
}
interface StatusJson { devices: { device: string; onionProbe: { ok: number; probed: number; failing: string[] } | null }[] }

let h: FleetHarness;
let proxy: ChildProcess;
let socks: string;
const outputs: string[] = [];

/** Every instance the device runs, with its onion (from its own hostname file). */
function instancesOf(id: string): { id: string; kind: 'smp' | 'xftp'; onion: string }[] {
  const root = h.devices.get(id)!.root;
  const desired = DesiredState.parse(JSON.parse(readFileSync(join(root, 'var/lib/onionfleet/desired.json'), 'utf8')));
  return desired.instances.map((i) => ({ id: i.id, kind: i.kind, onion: readFileSync(join(root, PATHS.onionDir(i.id), 'hostname'), 'utf8').trim() }));
}

async function probe(...args: string[]): Promise<{ code: number; json: ProbeJson | null; stdout: string; stderr: string }> {
  const run = await onionfleet('probe', '--state', h.state, '--socks', socks, '--timeout', '10', ...args);
  outputs.push(run.stdout, run.stderr);
  return { code: run.code, json: args.includes('--json') && run.stdout.startsWith('{') ? JSON.parse(run.stdout) as ProbeJson : null, stdout: run.stdout, stderr: run.stderr };
}

beforeAll(async () => {
  if (spawnSync('microsocks', ['-h']).error !== undefined) throw new Error('this test needs microsocks on PATH; run: bash deploy/dev-deps.sh');
  const started = await startMicrosocks();
  proxy = started.child;
  socks = `127.0.0.1:${started.port}`;
  h = await FleetHarness.create();
  await h.startServe();
  await h.enroll('pi-a', { tor: { socks, selfProbe: true } });
  await h.enroll('pi-b');
  h.startAgent('pi-a');
  h.startAgent('pi-b');
  const fleet = h.writeFleet(fleetYaml([{ id: 'pi-a', operator: 'alice' }, { id: 'pi-b', operator: 'bob' }], [{ id: 'fam', smp: 2, xftp: 1 }]));
  const applied = await h.apply(fleet, '--wait', '--timeout', '90');
  if (applied.code !== 0) throw new Error(`apply failed: ${applied.stderr}`);
}, 180_000);

afterAll(async () => {
  await h.stop();
  await stopChild(proxy);
}, 60_000);

describe('onionfleet probe', () => {
  it('probes every reported instance through the proxy; unreachable is exit 4; the first run pins them all (0600)', async () => {
    const all = [...instancesOf('pi-a'), ...instancesOf('pi-b')];
    expect(all.length).toBe(3);
    const first = await probe('--json');
    expect(first.code, first.stderr).toBe(EXIT.unreachable);
    const json = first.json!;
    expect(json).toMatchObject({ verdict: 'unreachable', exitCode: EXIT.unreachable, socks: { address: socks, source: '--socks' }, devices: [] });
    const results = json.groups.flatMap((g) => g.instances);
    expect(results.map((r) => r.instance).sort()).toEqual(all.map((i) => i.id).sort());
    for (const r of results) {
      expect(r).toMatchObject({ verdict: 'unreachable', reachable: false, problem: 'general-failure', alarms: [] });
      expect(r.expectedFingerprint).toBe(r.reportedFingerprint);
      expect(r.onion).toBe(`${all.find((i) => i.id === r.instance)!.onion.slice(0, 8)}…`);
    }
    expect(json.pinned.sort()).toEqual(all.map((i) => i.id).sort());
    const pinsFile = join(h.state, 'pins.json');
    expect(statSync(pinsFile).mode & 0o777).toBe(0o600);
    const pins = PinsFile.parse(JSON.parse(readFileSync(pinsFile, 'utf8')));
    expect(pins.pins.map((p) => [p.instance, p.onion]).sort()).toEqual(all.map((i) => [i.id, i.onion]).sort());

    const again = await probe('--json');
    expect(again.code).toBe(EXIT.unreachable);
    expect(again.json!.pinned).toEqual([]);
    expect(readFileSync(pinsFile, 'utf8')).toBe(JSON.stringify(pins, null, 2) + '\n');
  }, 60_000);

  it('shows a table per group and one verdict line, with the onion truncated', async () => {
    const text = await probe();
    expect(text.code).toBe(EXIT.unreachable);
    expect(text.stdout).toMatch(/^probed 3 instances through 127\.0\.0\.1:\d+ \(--socks\)$/m);
    expect(text.stdout).toMatch(/^group fam$/m);
    expect(text.stdout).toMatch(/instance +device +onion +reachable +identity +hello +latency ms/);
    expect(text.stdout).toMatch(/fam-smp-01 +pi-\w +[a-z2-7]{8}… +no \(general-failure\)/);
    expect(text.stdout).toMatch(/→ fam: UNREACHABLE — /);
    expect(text.stdout).toMatch(/^verdict: UNREACHABLE$/m);
  }, 60_000);

  it('an instance re-created behind the same onion (another CA) is an ALARM: exit 1 with verdict alarm, not 4', async () => {
    const victim = instancesOf('pi-a')[0]!;
    const cfg = join(h.devices.get('pi-a')!.root, PATHS.configDir(victim.kind, victim.id));
    rmSync(join(cfg, 'ca.crt')); // the agent re-initialises it on its next heartbeat: a new CA, the same onion
    const alarmed = await until('probe to raise the alarm', async () => {
      const run = await probe('--json');
      return run.json?.verdict === 'alarm' ? run : null;
    }, 60_000);
    expect(alarmed.code).toBe(EXIT.failed);
    const json = alarmed.json!;
    expect(json.verdict).toBe('alarm');
    const hit = json.groups.flatMap((g) => g.instances).find((i) => i.instance === victim.id)!;
    expect(hit.verdict).toBe('alarm');
    expect(hit.alarms.map((a) => a.reason)).toEqual(['fingerprint-changed']);
    expect(hit.reportedFingerprint).not.toBe(hit.expectedFingerprint);
    expect(json.groups.find((g) => g.group === 'fam')!.summary).toMatch(new RegExp(`^fam: ALARM — ${victim.id} on pi-a: fingerprint-changed`));
    const others = json.groups.flatMap((g) => g.instances).filter((i) => i.instance !== victim.id);
    expect(others.every((i) => i.verdict === 'unreachable')).toBe(true);
    const text = await probe();
    expect(text.code).toBe(EXIT.failed);
    expect(text.stdout).toMatch(/^verdict: ALARM$/m);
    expect(text.stdout).toContain('ALARM fingerprint-changed');
  }, 90_000);

  it('refuses an unknown group and a malformed --socks (exit 2)', async () => {
    const group = await probe('--group', 'nope');
    expect(group.code).toBe(EXIT.invalid);
    expect(group.stderr).toContain('--group: no device reports an instance of group "nope"');
    const bad = await onionfleet('probe', '--state', h.state, '--socks', 'localhost');
    expect(bad.code).toBe(EXIT.invalid);
    expect(bad.stderr).toContain('--socks: expected HOST:PORT');
  });
});

describe("the agents' self-probe in status", () => {
  it('a device with tor.selfProbe reports onionProbe per instance and status shows it; a sandbox device without it reports none', async () => {
    const status = await until('pi-a to report its self-probe', async () => {
      const s = JSON.parse((await h.status()).stdout) as StatusJson;
      const a = s.devices.find((d) => d.device === 'pi-a');
      return a?.onionProbe != null && a.onionProbe.probed === instancesOf('pi-a').length ? s : null;
    }, 60_000);
    const a = status.devices.find((d) => d.device === 'pi-a')!;
    expect(a.onionProbe).toEqual({ ok: 0, probed: instancesOf('pi-a').length, failing: instancesOf('pi-a').map((i) => i.id).sort() });
    expect(status.devices.find((d) => d.device === 'pi-b')!.onionProbe).toBeNull();
    const text = await runBin(BIN.onionfleet, ['status', '--state', h.state]);
    outputs.push(text.stdout, text.stderr);
    expect(text.stdout).toMatch(/onion self-probe/);
    expect(text.stdout).toMatch(/pi-a .* FAIL 0\/\d+ \(/);
    expect(text.stdout).toMatch(/pi-b +\S+ +\S+ +\S+ +- /);
  }, 90_000);

  it('no onion appears in full in any output or log of the run', async () => {
    const all = [...instancesOf('pi-a'), ...instancesOf('pi-b')];
    const everything = outputs.join('\n') + await h.allLogs();
    for (const i of all) {
      expect(everything).not.toContain(i.onion);
      expect(everything).not.toContain(i.onion.slice(0, 20));
    }
  });
});
