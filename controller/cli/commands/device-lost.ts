import { z } from 'zod';
import { seconds } from '#shared/cli/flag-types.ts';
import { parseFlags } from '#shared/cli/flags.ts';
import { plural, toJson } from '#shared/cli/output.ts';
import type { CliContext } from '#shared/cli/run-main.ts';
import { EXIT, InvalidInputError } from '#shared/errors.ts';
import { Id } from '#shared/schema/common.ts';
import { appliedPlacement } from '../../apply/publish.ts';
import { publishEffective, waitFor } from '../../apply/rollout.ts';
import { kvStore } from '../../apply/store.ts';
import { newestBackups } from '../../backup/movable.ts';
import { openSession } from '../../bus/session.ts';
import { loadFleetSpec } from '../../spec/load.ts';
import { listDevices } from '../../state/devices.ts';
import { readDeviceStates, restoreDeviceStates, setDeviceState } from '../../state/device-states.ts';
import { stateDir, statePaths } from '../../state/paths.ts';
import { progressLines } from '../../status/wait.ts';
import { statePassphrase } from '../passphrase.ts';

const Flags = z.object({
  id: Id,
  file: z.string().min(1),
  state: z.string().optional(),
  passphraseFile: z.string().optional(),
  wait: z.boolean().default(false),
  timeout: seconds().default(300),
  json: z.boolean().default(false),
});

/**
 * `onionfleet device lost ID -f FILE [--wait]`: declares a dead Pi (not a compromised one: that is
 * `device revoke`). Its instances are re-placed within the tier's rules at once — no hand-over to wait
 * for — and, where their group allows identity copies, restored from their newest backup at the same
 * address; it reports each instance's backup age: the data written since may be lost. The device keeps
 * its enrollment and is given a desired state without instances, so if it comes back it archives its
 * copies instead of serving them (docs/continuity.md, "A device that comes back").
 */
export async function deviceLost(opts: unknown, ctx: CliContext): Promise<void> {
  const flags = parseFlags(Flags, opts);
  const paths = statePaths(stateDir(flags.state));
  const spec = await loadFleetSpec(flags.file);
  if (!spec.devices.some((d) => d.id === flags.id)) throw new InvalidInputError([{ source: flags.file, path: 'devices', message: `no device "${flags.id}"` }]);
  if (!(await listDevices(paths)).some((d) => d.device === flags.id)) throw new InvalidInputError([{ source: paths.dir, path: 'devices', message: `"${flags.id}" is not enrolled` }]);
  const passphrase = await statePassphrase(paths, flags.passphraseFile);
  const progress = (line: string) => { if (!flags.json) ctx.output.err(line); };
  const declaredAt = Date.now();

  const session = await openSession(paths, passphrase, { create: true });
  try {
    const target = { own: kvStore(session.own), desired: kvStore(session.desired), identity: session.identity, secrets: session.secrets };
    const held = ((await appliedPlacement(target))?.placements ?? []).filter((p) => p.device === flags.id).map((p) => p.instance).sort();
    // With a map for downloads: a store log too large for a desired state shows as one (`fetch`), as publishing will send it.
    const backups = await newestBackups(paths, session, new Set(), new Map());
    const before = await readDeviceStates(paths);
    await setDeviceState(paths, flags.id, 'lost', new Date(declaredAt));
    let result: Awaited<ReturnType<typeof publishEffective>>;
    try {
      result = await publishEffective(paths, session, spec);
    } catch (err) {
      await restoreDeviceStates(paths, before);
      throw err;
    }
    const kept = new Set(result.handOver.map((h) => h.instance));
    const instances = held.map((instance) => {
      const b = backups.get(instance);
      return {
        instance,
        keepsAddress: kept.has(instance),
        backupAgeSeconds: b === undefined ? null : Math.max(0, Math.round((declaredAt - Date.parse(b.takenAt)) / 1000)),
        storeLog: b?.identity.storeLogNote ?? null,
      };
    });
    progress(`[1/2] ${flags.id} declared lost; ${plural(held.length, 'instance')} re-placed, ${kept.size} at the same address; published ${plural(result.changed.length, 'desired state')}`);
    for (const i of instances) {
      const queues = i.storeLog === 'too-large' ? '; without its queues: the store log is larger than a download can carry'
        : i.storeLog === 'fetch' ? '; its store log goes as a download the new device fetches before it starts' : '';
      progress(`  ${i.instance}: ${i.keepsAddress ? `same address, restored from a backup ${i.backupAgeSeconds ?? '?'} s old (data written since may be lost${queues})` : 'new address (no usable backup, or the group allows no identity copies)'}`);
    }
    const summary = { lost: flags.id, instances, changed: result.changed };
    if (!flags.wait) {
      ctx.output.out(flags.json ? toJson(summary) : `declared ${flags.id} lost; ${kept.size}/${held.length} instances keep their addresses${kept.size < held.length ? ' — export the bundles again for the others' : ''}`);
      return;
    }
    const waited = await waitFor(paths, session, result.revisions, flags.timeout * 1000,
      progressLines(progress, (done, total) => `[2/2] converged ${done}/${total} devices`), new Set([flags.id]));
    if (flags.json) ctx.output.out(toJson({ ...summary, converged: waited.pending.length === 0, pending: waited.pending }));
    else if (waited.pending.length === 0) ctx.output.out(`declared ${flags.id} lost; the fleet converged without it, ${kept.size}/${held.length} instances at their old addresses`);
    else ctx.output.out([`declared ${flags.id} lost, but timed out after ${flags.timeout}s; not converged:`, ...waited.pending.map((p) => `  ${p.device}: ${p.reason}`)].join('\n'));
    if (waited.pending.length > 0) ctx.setExitCode(EXIT.failed);
  } finally {
    await session.close();
  }
}
