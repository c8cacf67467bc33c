/**
 * `npm run bench -- failover` (issue 15): over real onions (a private Tor network on loopback, the
 * controller's `serve --tor`, 3 simulated Pis each with its own tor). A standard group of 2 SMP
 * instances runs and is backed up; one Pi's agent and servers are SIGKILLed (with its tor: a Pi pulled from the wall); then `onionfleet device
 * lost` is run. commandMs: the command itself (re-plan, restore identities, publish). toEveryProbeOkMs:
 * from the command's start until every instance the Pi held answers the TLS identity probe through Tor
 * at its old address (same onion, same fingerprint) from another Pi. backupAgeSeconds: the oldest
 * backup it restored from, as the command reported it. press-smp-01 holds `queues` queues first (random
 * ids, so its gzip'd store log of storeLogGzipKiB is far beyond what a desired state carries and goes as
 * a download, docs/continuity.md): toQueuesServedMs is until every one of them answers through Tor.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { PATHS } from '../agent/render/paths.ts';
import { BIN, runBin } from '../test/support/cli.ts';
import { addressOn, backupRows, holderOf, killDevice, queueOverTor, runningDesired, untilAnswersThroughTor } from '../test/support/continuity-tor.ts';
import { queueCommands } from '../test/support/queue-client.ts';
import { until } from '../test/support/processes.ts';
import { TorFleet } from '../test/support/tor-fleet.ts';

/** Queues in the big instance: a gzip'd store log of about 750 KiB, three download parts. */
const QUEUES = 12_000;

export async function failover(): Promise<Record<string, unknown>[]> {
  const fleet = await TorFleet.start();
  const h = fleet.h;
  const cli = (...args: string[]) => runBin(BIN.onionfleet, [...args, '--state', h.state]);
  try {
    const devices = ['pi-1', 'pi-2', 'pi-3'];
    await fleet.addDevices(devices);
    const file = join(h.dir, 'fleet.yaml');
    writeFileSync(file, [
      'version: 1', 'fleet: bench', 'operators:', '  - id: alice', '  - id: bob', '  - id: carol', 'devices:',
      ...devices.map((id, i) => `  - { id: ${id}, operator: ${['alice', 'bob', 'carol'][i] ?? 'alice'}, location: site-${i}, jurisdiction: DE }`),
      'groups:', '  - { id: press, tier: standard, smp: 2, xftp: 0, members: [m], continuity: { backupInterval: 10s } }', 'members:', '  - { id: m, passphrase: true }', '',
    ].join('\n'));
    const applied = await h.apply(file, '--wait', '--timeout', '600');
    if (applied.code !== 0) throw new Error(`apply did not converge: ${applied.stderr}${applied.stdout}`);
    await until('a backup of each instance', async () => ((await backupRows(() => cli('backup', 'list', '--json'))).filter((b) => b.ok).length >= 2 ? true : null), 300_000);
    const victim = holderOf(h, 'press-smp-01') ?? '';
    const held = runningDesired(h, victim).instances.map((i) => i.id);
    const addresses = held.map((i) => addressOn(h, victim, i));
    for (const a of addresses) await untilAnswersThroughTor(h, a, 600_000);
    // A big instance: its queues written on its local port, then a backup whose chain holds them all.
    const port = runningDesired(h, victim).instances.find((i) => i.id === 'press-smp-01')?.localPort ?? 0;
    const ids = Array.from({ length: QUEUES }, () => randomBytes(48).toString('base64url'));
    for (let n = 0; n < ids.length; n += 40) await queueCommands({ host: '127.0.0.1', port }, ids.slice(n, n + 40).map((q) => `DOUBLE NEW ${q}`));
    const storeLogGzipKiB = Math.round(gzipSync(readFileSync(join(h.devices.get(victim)?.root ?? '', PATHS.logDir('smp', 'press-smp-01'), 'smp-server-store.log'))).byteLength / 1024);
    await until('a backup holding every queue', async () => {
      const run = await cli('backup', 'list', '--json');
      const rows = (JSON.parse(run.stdout) as { backups: { ok: boolean; instance: string | null; device: string; chain: { bytes: number } | null }[] }).backups;
      return rows.some((r) => r.ok && r.instance === 'press-smp-01' && r.device === victim && (r.chain?.bytes ?? 0) > storeLogGzipKiB * 1024) ? true : null;
    }, 300_000);

    await killDevice(h, victim, fleet.tor(victim).pid);
    const started = performance.now();
    const lost = await cli('device', 'lost', victim, '-f', file, '--json');
    const commandMs = Math.round(performance.now() - started);
    if (lost.code !== 0) throw new Error(`device lost failed: ${lost.stderr}${lost.stdout}`);
    const report = JSON.parse(lost.stdout) as { instances: { keepsAddress: boolean; backupAgeSeconds: number | null }[] };
    await Promise.all(addresses.map((a) => untilAnswersThroughTor(h, a, 600_000)));
    const toEveryProbeOkMs = Math.round(performance.now() - started);
    const big = addresses[held.indexOf('press-smp-01')]?.onion ?? '';
    await until('every queue served through Tor', async () => ((await queueOverTor(h, big, ['DOUBLE COUNT']).catch(() => []))[0] === String(QUEUES) ? true : null), 600_000);
    const toQueuesServedMs = Math.round(performance.now() - started);
    return [{
      agents: devices.length, instances: held.length, keptAddresses: report.instances.filter((i) => i.keepsAddress).length,
      backupAgeSeconds: Math.max(...report.instances.map((i) => i.backupAgeSeconds ?? -1)), commandMs, toEveryProbeOkMs, queues: QUEUES, storeLogGzipKiB, toQueuesServedMs,
    }];
  } finally {
    await fleet.stop();
  }
}
