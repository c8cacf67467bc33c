/**
 * Member-continuity helpers over a TorFleet (test/e2e/continuity-over-tor.test.ts, bench failover):
 * an instance's address as its device holds it, a TLS identity probe of an onion through the
 * controller's tor until it answers with the expected fingerprint, queue commands to the SMP double
 * through Tor, and SIGKILL of a device's agent and servers.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { probeThroughSocks } from '#shared/probes/over-socks.ts';
import { DesiredState } from '#shared/schema/desired-state.ts';
import { dialSocks } from '#shared/tor/socks-tunnel.ts';
import type { FleetHarness } from './fleet-harness.ts';
import { stopPid, until } from './processes.ts';
import { queueCommands } from './queue-client.ts';

export interface Address { readonly onion: string; readonly fingerprint: string; readonly password: string }

export const runningDesired = (h: FleetHarness, id: string): DesiredState =>
  DesiredState.parse(JSON.parse(readFileSync(join(h.devices.get(id)?.root ?? '', 'var/lib/onionfleet/desired.json'), 'utf8')));

/** The device (other than `except`) whose running desired state has `instance`, or null. */
export function holderOf(h: FleetHarness, instance: string, except: string | null = null): string | null {
  return [...h.devices.keys()].find((id) => id !== except && runningDesired(h, id).instances.some((i) => i.id === instance)) ?? null;
}

/** The address of `instance` as `device` holds it: its onion hostname, its fingerprint file, its password. */
export function addressOn(h: FleetHarness, device: string, instance: string): Address {
  const root = h.devices.get(device)?.root ?? '';
  return {
    onion: readFileSync(join(root, 'var/lib/tor/onionfleet', instance, 'hostname'), 'utf8').trim(),
    fingerprint: readFileSync(join(root, 'etc/opt/simplex', instance, 'fingerprint'), 'utf8').trim(),
    password: runningDesired(h, device).instances.find((i) => i.id === instance)?.password ?? '',
  };
}

/** The controller's tor SOCKS port (`serve --tor`). */
export function controllerSocks(h: FleetHarness): { host: string; port: number } {
  return { host: '127.0.0.1', port: (JSON.parse(readFileSync(join(h.state, 'tor/runtime.json'), 'utf8')) as { socksPort: number }).socksPort };
}

/** Probes `address` through the controller's tor until it proves the fingerprint (deadline `ms`). */
export async function untilAnswersThroughTor(h: FleetHarness, address: Address, ms: number): Promise<void> {
  await until(`the onion to answer with its fingerprint through Tor`, async () => {
    const probe = await probeThroughSocks({ socks: controllerSocks(h), target: { host: address.onion, port: 5223 }, kind: 'smp', fingerprint: address.fingerprint, timeoutMs: 60_000 });
    return probe.identityOk && probe.helloOk ? true : null;
  }, ms);
}

/** `DOUBLE …` lines to the SMP double behind `onion`, through the controller's tor. */
export function queueOverTor(h: FleetHarness, onion: string, lines: readonly string[]): Promise<string[]> {
  return queueCommands({ connect: () => dialSocks(controllerSocks(h), { host: onion, port: 5223 }, 120_000) }, lines, 180_000);
}

/**
 * SIGKILLs a device's agent and every server its supervisor started, and (given its pid) the tor that
 * serves its onions: a Pi pulled from the wall. A tor left running would keep publishing the onions'
 * descriptors, which no dead Pi does.
 */
export async function killDevice(h: FleetHarness, id: string, torPid: number | null = null): Promise<void> {
  await h.stopAgent(id, 'SIGKILL');
  if (torPid !== null) await stopPid(torPid, 'SIGKILL');
  const dir = join(h.devices.get(id)?.root ?? '', 'run/onionfleet');
  for (const f of readdirSync(dir).filter((name) => name.endsWith('.pid'))) {
    await stopPid((JSON.parse(readFileSync(join(dir, f), 'utf8')) as { pid: number }).pid, 'SIGKILL');
  }
}

/** `backup list --json` rows. */
export async function backupRows(run: () => Promise<{ code: number; stdout: string; stderr: string }>): Promise<{ ok: boolean; instance: string | null; reason: string | null; ageSeconds: number | null }[]> {
  const r = await run();
  if (r.code !== 0) throw new Error(`backup list: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { backups: { ok: boolean; instance: string | null; reason: string | null; ageSeconds: number | null }[] }).backups;
}
