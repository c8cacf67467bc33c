import { dirname } from 'node:path';
import { z } from 'zod';
import { parseFlags } from '#shared/cli/flags.ts';
import { plural, table, toJson } from '#shared/cli/output.ts';
import type { CliContext } from '#shared/cli/run-main.ts';
import { Id } from '#shared/schema/common.ts';
import { exportBundles, terminalQr, type ExportResult } from '../../bundle/export.ts';
import { stateDir, statePaths } from '../../state/paths.ts';
import { loadFleetSpec } from '../../spec/load.ts';
import { statePassphrase } from '../passphrase.ts';

const ExportFlags = z.object({
  group: Id,
  out: z.string().min(1),
  file: z.string().min(1),
  state: z.string().optional(),
  passphraseFile: z.string().optional(),
  memberPassphrases: z.string().optional(),
  qr: z.enum(['png', 'terminal', 'none']).default('none'),
  page: z.boolean().default(false),
  statuses: z.string().min(1).optional(),
  json: z.boolean().default(false),
});

/**
 * `onionfleet bundle export --group G --out DIR -f FILE [--member-passphrases F] [--qr png|terminal|none] [--page]`:
 * one signed, encrypted bundle per member of the group (DIR/<member>.age, 0600) with its SSH
 * signature beside it (DIR/<member>.age.sig), and with --page the member's printable page
 * (DIR/<member>.html.age + .sig). Generated passphrases are printed here, once, and stored
 * nowhere. Exit 1 when an instance of the group reports no address yet.
 */
export async function bundleExport(opts: unknown, ctx: CliContext): Promise<void> {
  const flags = parseFlags(ExportFlags, opts);
  const spec = await loadFleetSpec(flags.file);
  const result = await exportBundles({
    statePaths: statePaths(stateDir(flags.state)),
    passphrase: await statePassphrase(statePaths(stateDir(flags.state)), flags.passphraseFile),
    spec,
    group: flags.group,
    outDir: flags.out,
    memberPassphraseFile: flags.memberPassphrases,
    qr: flags.qr,
    page: flags.page,
    ...(flags.statuses === undefined ? {} : { statusesDir: flags.statuses }),
  });
  if (flags.json) {
    ctx.output.out(toJson(exportJson(result)));
    return;
  }
  ctx.output.out(await exportText(result, flags.qr === 'terminal'));
}

function exportJson(r: ExportResult) {
  const count = (kind: string) => r.servers.filter((s) => s.kind === kind).length;
  return {
    group: r.group, version: r.version, date: r.date, changed: r.changed, fingerprint: r.fingerprint, sshFingerprint: r.sshFingerprint, allowedSigners: r.allowedSigners,
    smp: count('smp'), xftp: count('xftp'), retire: r.retire,
    files: r.files.map((f) => ({
      member: f.member, file: f.file, signature: f.signature, page: f.page?.file ?? null, pageSignature: f.page?.signature ?? null, encryption: f.encryption,
      ...(f.generatedPassphrase === null ? {} : { passphrase: f.generatedPassphrase }), qr: f.qr,
    })),
  };
}

async function exportText(r: ExportResult, qr: boolean): Promise<string> {
  const j = exportJson(r);
  const generated = r.files.filter((f) => f.generatedPassphrase !== null);
  const lines = [
    `bundle ${r.group} version ${r.version} (${r.date})${r.changed ? '' : ', unchanged since the last export'}: ${j.smp} SMP, ${j.xftp} XFTP, ${r.retire === 0 ? 'none' : r.retire} to retire; signed by ${r.sshFingerprint}`,
    table(r.files.map((f) => [
      f.page === null ? `${f.file} (+ .sig)` : `${f.file}, ${f.page.file} (+ .sig each)`,
      f.encryption === 'recipient' ? 'age recipient' : f.generatedPassphrase === null ? 'passphrase (from the file)' : 'passphrase (generated, below)',
      ...(f.qr.length > 0 ? [`${plural(f.qr.length, 'QR code')} in ${dirname(f.qr[0] ?? '')}`] : []),
    ])),
  ];
  if (generated.length > 0) {
    lines.push('passphrases, shown only now and stored nowhere: give each to its member over another channel than the file');
    for (const f of generated) lines.push(`  ${f.member}: ${f.generatedPassphrase ?? ''}`);
  }
  lines.push(`members check the .sig files with this allowed_signers line (onionfleet bundle signer prints it): ${r.allowedSigners}`);
  if (qr) for (const s of r.servers) lines.push('', `${s.instance}  ${s.address}`, await terminalQr(s.address));
  return lines.join('\n');
}
