import { z } from 'zod';
import { parseFlags } from '#shared/cli/flags.ts';
import { toJson } from '#shared/cli/output.ts';
import type { CliContext } from '#shared/cli/run-main.ts';
import { OnionfleetError, EXIT } from '#shared/errors.ts';
import { checkBackups, readAgeIdentityFile, readExportDir } from '../../backup/check.ts';
import { gatherFromBus } from '../../backup/gather.ts';
import { stateDir, statePaths } from '../../state/paths.ts';
import { statePassphrase } from '../passphrase.ts';

const Flags = z.object({
  identity: z.string().optional(),
  dir: z.string().optional(),
  state: z.string().optional(),
  passphraseFile: z.string().optional(),
  json: z.boolean().default(false),
});

/** Some backup did not open or check: exit 2, nothing restored from it. */
class BackupTamperedError extends OnionfleetError {
  readonly code = 'backup-tampered';
  readonly exitCode = EXIT.invalid;
}

/**
 * `onionfleet backup verify [--identity KEYFILE] [--dir DIR]`: decrypts every backup with one key —
 * an offline recipient's alone, or the controller's — checks its device's signature and that its
 * identity holds together, that the store-log chain it names (base and deltas) reassembles to its tip,
 * and (from the bus) that it matches what its device reports. With `--dir`
 * it reads a directory `backup export` wrote, and needs neither the bus nor the controller's state.
 * Exit 2 when any backup is refused (tampered, not signed by its device, not for this key).
 */
export async function backupVerify(opts: unknown, ctx: CliContext): Promise<void> {
  const flags = parseFlags(Flags, opts);
  const identity = flags.identity === undefined ? null : await readAgeIdentityFile(flags.identity);
  let rows;
  if (flags.dir !== undefined) {
    const exported = await readExportDir(flags.dir);
    if (identity === null) throw new BackupTamperedError('--dir needs --identity KEYFILE (an offline recipient\'s key)', { hint: 'pass the age identity file of an offline recipient named in fleet.yaml' });
    rows = await checkBackups(exported.backups, identity, exported.signers, new Map(), Date.now(), exported.parts);
  } else {
    const paths = statePaths(stateDir(flags.state));
    const g = await gatherFromBus(paths, await statePassphrase(paths, flags.passphraseFile));
    rows = await checkBackups(g.backups, identity ?? g.controllerIdentity, g.signers, g.statuses, Date.now(), g.parts);
  }
  const refused = rows.filter((r) => !r.ok);
  const differs = rows.filter((r) => r.deviceReports === 'differs');
  if (flags.json) ctx.output.out(toJson({ verified: rows.length - refused.length, refused: refused.map((r) => ({ key: r.key, device: r.device, problem: r.problem })), differs: differs.map((r) => r.key), backups: rows }));
  else {
    for (const r of rows) ctx.output.out(r.ok ? `ok       ${r.instance ?? ''} (${r.device}, epoch ${r.epoch ?? 0}, ${r.ageSeconds ?? 0} s old${r.chain === null ? '' : `, store log chain of ${r.chain.parts} parts`}, device reports: ${r.deviceReports})` : `REFUSED  ${r.key}: ${r.problem ?? ''}`);
    ctx.output.out(`${rows.length - refused.length}/${rows.length} backups verified${refused.length > 0 ? `; ${refused.length} refused` : ''}`);
  }
  if (refused.length > 0) throw new BackupTamperedError(`${refused.length} of ${rows.length} backups refused`, { hint: 'do not restore from them; each is named above' });
}
