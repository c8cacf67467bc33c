/**
 * The offline path of the extreme tier: `onionfleet apply --offline --out DIR` writes one sealed
 * desired state per device, and `onionfleet-agent apply --desired FILE` opens and applies it — no bus.
 */
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, runBin } from '../support/cli.ts';
import { FleetHarness, fleetYaml } from '../support/fleet-harness.ts';

let h: FleetHarness;
let out: string;

beforeAll(async () => {
  h = await FleetHarness.create();
  await h.enroll('pi-x');
  out = join(h.dir, 'carry');
}, 60_000);
afterAll(async () => {
  await h.stop();
}, 60_000);

describe('offline apply', () => {
  it('writes sealed desired states that only their device opens, and the agent applies them', async () => {
    const fleet = h.writeFleet(fleetYaml([{ id: 'pi-x', operator: 'alice' }], [{ id: 'fam', smp: 2, xftp: 1 }]));
    const run = await runBin(BIN.onionfleet, ['apply', '-f', fleet, '--state', h.state, '--offline', '--out', out, '--json']);
    expect(run.code).toBe(0);
    expect(readdirSync(out).filter((f) => f.endsWith('.age'))).toEqual(['pi-x.age']);
    const sealed = readFileSync(join(out, 'pi-x.age'));
    expect(sealed.subarray(0, 21).toString()).toBe('age-encryption.org/v1');
    expect(sealed.includes(Buffer.from('password'))).toBe(false);

    const config = h.devices.get('pi-x')?.config ?? '';
    const applied = await runBin(BIN.agent, ['apply', '--desired', join(out, 'pi-x.age'), '--config', config, '--json']);
    expect(applied.code).toBe(0);
    expect(JSON.parse(applied.stdout)).toMatchObject({ converged: true, revision: 1 });
    const status = await runBin(BIN.agent, ['status', '--config', config, '--json']);
    expect(JSON.parse(status.stdout)).toMatchObject({ appliedRevision: 1, healthy: 3, total: 3 });
  }, 120_000);

  it('refuses a tampered sealed file (exit 2) and changes nothing', async () => {
    const tampered = join(h.dir, 'tampered.age');
    const bytes = readFileSync(join(out, 'pi-x.age'));
    bytes[bytes.length - 5] = (bytes[bytes.length - 5] ?? 0) ^ 0xff;
    writeFileSync(tampered, bytes);
    const run = await runBin(BIN.agent, ['apply', '--desired', tampered, '--config', h.devices.get('pi-x')?.config ?? '']);
    expect(run.code).toBe(2);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });

  it('keeps passwords and placement on the next offline apply: the device has nothing to do', async () => {
    const fleet = h.writeFleet(fleetYaml([{ id: 'pi-x', operator: 'alice' }], [{ id: 'fam', smp: 2, xftp: 1 }]));
    const again = join(h.dir, 'again');
    const run = await runBin(BIN.onionfleet, ['apply', '-f', fleet, '--state', h.state, '--offline', '--out', again, '--json']);
    expect(run.code).toBe(0);
    const applied = await runBin(BIN.agent, ['apply', '--desired', join(again, 'pi-x.age'), '--config', h.devices.get('pi-x')?.config ?? '', '--json']);
    expect(JSON.parse(applied.stdout)).toMatchObject({ converged: true, revision: 1, steps: [] });
  }, 60_000);
});

describe('offline bundles', () => {
  it('exports bundles from the sealed status files the devices wrote, without a bus', async () => {
    const statuses = join(h.dir, 'statuses');
    mkdirSync(statuses);
    const config = h.devices.get('pi-x')?.config ?? '';
    const sealed = await runBin(BIN.agent, ['seal-status', '--out', join(statuses, 'pi-x.status.age'), '--config', config, '--json']);
    expect(sealed.code, sealed.stderr).toBe(0);
    const bytes = readFileSync(join(statuses, 'pi-x.status.age'));
    expect(bytes.subarray(0, 21).toString()).toBe('age-encryption.org/v1');
    expect(bytes.includes(Buffer.from('smp://'))).toBe(false);

    const fleet = h.writeFleet(fleetYaml([{ id: 'pi-x', operator: 'alice' }], [{ id: 'fam', smp: 2, xftp: 1 }]));
    const run = await runBin(BIN.onionfleet, ['bundle', 'export', '--group', 'fam', '--out', join(h.dir, 'bundles'), '-f', fleet, '--state', h.state, '--statuses', statuses, '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ group: 'fam', smp: 2, xftp: 1 });

    // A status file that is not the device's own (tampered) is not trusted: the export names the device.
    bytes[bytes.length - 5] = (bytes[bytes.length - 5] ?? 0) ^ 0xff;
    writeFileSync(join(statuses, 'pi-x.status.age'), bytes);
    const refused = await runBin(BIN.onionfleet, ['bundle', 'export', '--group', 'fam', '--out', join(h.dir, 'bundles-2'), '-f', fleet, '--state', h.state, '--statuses', statuses]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/pi-x: unverifiable status/);
  }, 120_000);
});
