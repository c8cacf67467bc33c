import { z } from 'zod';
import { parseFlags } from '#shared/cli/flags.ts';
import { toJson } from '#shared/cli/output.ts';
import type { CliContext } from '#shared/cli/run-main.ts';
import { checkBackups } from '../../backup/check.ts';
import { gatherFromBus } from '../../backup/gather.ts';
import { stateDir, statePaths } from '../../state/paths.ts';
import { statePassphrase } from '../passphrase.ts';

const Flags = z.object({ state: z.string().optional(), passphraseFile: z.string().optional(), json: z.boolean().default(false) });

/**
 * `onionfleet backup list [--json]`: every sealed backup the controller holds, opened with its own
 * key: instance, device, epoch, age, whether the store log is in it (and its chain: base age, deltas,
 * the newest part's age — the data-loss window; for XFTP whether its files are in it, or were left out and why), and whether it matches what the device reports. Names no key, password or address.
 */
export async function backupList(opts: unknown, ctx: CliContext): Promise<void> {
  const flags = parseFlags(Flags, opts);
  const paths = statePaths(stateDir(flags.state));
  const g = await gatherFromBus(paths, await statePassphrase(paths, flags.passphraseFile));
  const rows = await checkBackups(g.backups, g.controllerIdentity, g.signers, g.statuses, Date.now(), g.parts);
  if (flags.json) {
    ctx.output.out(toJson({ backups: rows }));
    return;
  }
  if (rows.length === 0) {
    ctx.output.out('no backups yet (a device sends one once its instances run, for groups that allow identity copies)');
    return;
  }
  ctx.output.out(rows.map((r) => (r.ok
    ? `${r.instance ?? ''}  on ${r.device}  epoch ${r.epoch ?? 0}  ${r.ageSeconds ?? 0} s old (${r.reason ?? ''})  store log ${r.storeLog ?? ''}${r.chain === null ? '' : ` (base ${r.chain.baseAgeSeconds} s old, ${r.chain.deltas} deltas, newest ${r.chain.newestAgeSeconds} s old, ${r.chain.bytes} bytes)`}${r.chain === null || r.chain.xftpFiles === null ? '' : `, ${r.chain.xftpFiles.text}`}  ${r.bytes} bytes  device reports: ${r.deviceReports}`
    : `${r.key}  REFUSED: ${r.problem ?? ''}`)).join('\n'));
}
