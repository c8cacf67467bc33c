/**
 * Over real onions (issue 5): a private Tor network on loopback, the controller's `serve --tor`, and
 * 3 simulated Pis each with its own tor. bootstrapMs: from nothing running until the network, the
 * controller and every Pi's tor are up (what a fresh fleet waits for). applyToConvergedMs: `apply
 * --wait` until every device reports its new revision healthy — the agents reach NATS only through the
 * NATS onion, and each new instance's onion is published by its Pi's tor.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TorFleet } from '../test/support/tor-fleet.ts';

const AGENTS = 3;

export async function convergeTor(): Promise<Record<string, unknown>[]> {
  const started = performance.now();
  const fleet = await TorFleet.start();
  try {
    const ids = Array.from({ length: AGENTS }, (_, i) => `pi-${i + 1}`);
    await fleet.addDevices(ids);
    const bootstrapMs = Math.round(performance.now() - started);
    const file = join(fleet.h.dir, 'fleet.yaml');
    writeFileSync(file, [
      'version: 1', 'fleet: bench', 'operators:', '  - id: alice', '  - id: bob', '  - id: carol', 'devices:',
      ...ids.map((id, i) => `  - { id: ${id}, operator: ${['alice', 'bob', 'carol'][i] ?? 'alice'}, location: site-${i}, jurisdiction: ${['DE', 'NL', 'AT'][i] ?? 'DE'} }`),
      'groups:', '  - { id: press, tier: high, smp: 3, xftp: 1, members: [m] }', 'members:', '  - { id: m, passphrase: true }', '',
    ].join('\n'));
    const applyStarted = performance.now();
    const run = await fleet.h.apply(file, '--wait', '--timeout', '600');
    const applyToConvergedMs = Math.round(performance.now() - applyStarted);
    if (run.code !== 0) throw new Error(`apply did not converge: ${run.stderr}${run.stdout}`);
    return [{ agents: AGENTS, bootstrapMs, applyToConvergedMs }];
  } finally {
    await fleet.stop();
  }
}
