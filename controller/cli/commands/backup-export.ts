import { join } from 'node:path';
import { z } from 'zod';
import { parseFlags } from '#shared/cli/flags.ts';
import { makeOutputDir, writeOutputFile } from '#shared/cli/output-file.ts';
import { toJson } from '#shared/cli/output.ts';
import type { CliContext } from '#shared/cli/run-main.ts';
import { SIGNERS_FILE } from '../../backup/check.ts';
import { gatherFromBus } from '../../backup/gather.ts';
import { stateDir, statePaths } from '../../state/paths.ts';
import { statePassphrase } from '../passphrase.ts';

const Flags = z.object({ out: z.string().min(1), state: z.string().optional(), passphraseFile: z.string().optional(), json: z.boolean().default(false) });

/**
 * `onionfleet backup export --out DIR`: writes every sealed backup as `<device>.<slot>.age` and every
 * store-log chain's part as `<device>.<slot>.<part>.age` (mode
 * 0600, still sealed: only the controller and the groups' offline recipients open them) and the
 * devices' public signing keys as `signers.json`, so `backup verify --dir DIR --identity KEY` works
 * anywhere, without the bus or the controller's state.
 */
export async function backupExport(opts: unknown, ctx: CliContext): Promise<void> {
  const flags = parseFlags(Flags, opts);
  const paths = statePaths(stateDir(flags.state));
  const g = await gatherFromBus(paths, await statePassphrase(paths, flags.passphraseFile));
  await makeOutputDir(flags.out);
  for (const b of g.backups) await writeOutputFile(join(flags.out, `${b.key}.age`), b.sealed, 0o600);
  for (const p of g.parts) await writeOutputFile(join(flags.out, `${p.key}.age`), p.sealed, 0o600);
  await writeOutputFile(join(flags.out, SIGNERS_FILE), `${JSON.stringify(Object.fromEntries(g.signers), null, 2)}\n`);
  ctx.output.out(flags.json ? toJson({ out: flags.out, backups: g.backups.length, storeLogParts: g.parts.length }) : `wrote ${g.backups.length} sealed backups, ${g.parts.length} store-log parts and ${SIGNERS_FILE} to ${flags.out}/`);
}
