import { mkdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { parseFlags } from '#shared/cli/flags.ts';
import { plural, table, toJson } from '#shared/cli/output.ts';
import { canPrompt, promptHidden } from '#shared/cli/prompt.ts';
import type { CliContext } from '#shared/cli/run-main.ts';
import { decryptWith, decryptWithPassphrase, isPassphraseEncrypted } from '#shared/crypto/age.ts';
import { keyFingerprint } from '#shared/crypto/sign.ts';
import { InvalidInputError } from '#shared/errors.ts';
import { writeFileAtomic } from '#shared/fs/atomic-write.ts';
import { readCapped } from '#shared/fs/read-capped.ts';
import { Id } from '#shared/schema/common.ts';
import { parseBundleBody, verifyBundle, type BundleInput } from '../../bundle/document.ts';
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
  json: z.boolean().default(false),
});

const ControllerKey = z.string().regex(/^(?:ed25519:[A-Za-z0-9_-]{43}|SHA256:[A-Za-z0-9+/]{43})$/, { error: 'expected a controller fingerprint (SHA256:…, 50 characters) or key (ed25519:…)' });
const OpenFlags = z.object({
  identity: z.string().optional(),
  passphraseFile: z.string().optional(),
  controllerKey: ControllerKey.optional(),
  qr: z.enum(['terminal', 'none']).default('none'),
  json: z.boolean().default(false),
});

/**
 * `onionfleet bundle export --group G --out DIR -f FILE [--member-passphrases F] [--qr png|terminal|none]`:
 * one signed, encrypted bundle per member of the group (DIR/<member>.age, 0600). Generated
 * passphrases are printed here, once, and stored nowhere. Exit 1 when an instance of the group
 * reports no address yet.
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
    group: r.group, version: r.version, date: r.date, changed: r.changed, fingerprint: r.fingerprint,
    smp: count('smp'), xftp: count('xftp'), retire: r.retire,
    files: r.files.map((f) => ({ member: f.member, file: f.file, encryption: f.encryption, ...(f.generatedPassphrase === null ? {} : { passphrase: f.generatedPassphrase }), qr: f.qr })),
  };
}

async function exportText(r: ExportResult, qr: boolean): Promise<string> {
  const j = exportJson(r);
  const generated = r.files.filter((f) => f.generatedPassphrase !== null);
  const lines = [
    `bundle ${r.group} version ${r.version} (${r.date})${r.changed ? '' : ', unchanged since the last export'}: ${j.smp} SMP, ${j.xftp} XFTP, ${r.retire === 0 ? 'none' : r.retire} to retire; signed by ${r.fingerprint}`,
    table(r.files.map((f) => [
      f.file,
      f.encryption === 'recipient' ? 'age recipient' : f.generatedPassphrase === null ? 'passphrase (from the file)' : 'passphrase (generated, below)',
      ...(f.qr.length > 0 ? [`${plural(f.qr.length, 'QR code')} in ${dirname(f.qr[0] ?? '')}`] : []),
    ])),
  ];
  if (generated.length > 0) {
    lines.push('passphrases, shown only now and stored nowhere: give each to its member over another channel than the file');
    for (const f of generated) lines.push(`  ${f.member}: ${f.generatedPassphrase ?? ''}`);
  }
  if (qr) for (const s of r.servers) lines.push('', `${s.instance}  ${s.address}`, await terminalQr(s.address));
  return lines.join('\n');
}

/**
 * `onionfleet bundle open FILE (-i IDENTITY | --passphrase-file F) [--controller-key FPR] [--qr terminal]`:
 * decrypts a member's bundle, checks its signature — against --controller-key, or against the key
 * pinned on first use — and prints the servers. Exit 2 for a file that is damaged, altered, not
 * for this identity, or signed by another key.
 */
export async function bundleOpen(file: unknown, opts: unknown, ctx: CliContext): Promise<void> {
  const flags = parseFlags(OpenFlags, opts);
  const path = z.string().min(1).parse(file);
  const raw = await readCapped(path, BUNDLE_MAX_BYTES).catch((err: unknown) => {
    if (err instanceof InvalidInputError) throw err;
    throw new InvalidInputError([{ source: path, message: (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : 'cannot read' }], { cause: err });
  });
  const text = new TextDecoder().decode(await decrypt(path, raw, flags));
  const checked = verifyBundle(text, flags.controllerKey ?? null);
  if (!checked.ok) {
    const hint = checked.reason === 'unexpected-key' ? 'this bundle was not made by your controller; ask your admin for a new one' : 'ask your admin for a fresh copy of your bundle';
    throw new InvalidInputError([{ source: path, message: checked.message }], { hint });
  }
  if (flags.controllerKey === undefined) await checkPin(path, checked.key, checked.fingerprint, ctx);
  const doc = parseBundleBody(checked.body);
  if (doc === null) throw new InvalidInputError([{ source: path, message: 'signed, but not a bundle this version of onionfleet can read' }], { hint: 'update onionfleet' });
  if (flags.json) {
    ctx.output.out(toJson({ group: doc.group, version: doc.version, date: doc.date, fleet: doc.fleet, smp: doc.smp, xftp: doc.xftp, retire: doc.retire, controllerKey: checked.key, fingerprint: checked.fingerprint }));
    return;
  }
  ctx.output.out(await openText(doc, checked.fingerprint, flags.qr === 'terminal'));
}

async function openText(doc: BundleInput, fingerprint: string, qr: boolean): Promise<string> {
  const list = async (addresses: readonly string[]) => {
    const out: string[] = [];
    for (const a of addresses) out.push(`  ${a}`, ...(qr ? [await terminalQr(a)] : []));
    return out.length === 0 ? ['  none'] : out;
  };
  return [
    `bundle for group ${doc.group} (fleet ${doc.fleet}), version ${doc.version} of ${doc.date}; signed by ${fingerprint}`,
    'SMP servers', ...(await list(doc.smp)),
    'XFTP servers', ...(await list(doc.xftp)),
    'terminal client',
    `  /smp ${doc.smp.join(' ')}`,
    ...(doc.xftp.length === 0 ? [] : [`  /xftp ${doc.xftp.join(' ')}`]),
    'servers to retire',
    ...(doc.retire.length === 0 ? ['  none'] : doc.retire.map((r) => `  ${r.address}  retire after ${r.after}`)),
  ].join('\n');
}

const AGE_HEADS = ['-----BEGIN AGE ENCRYPTED FILE-----', 'age-encryption.org/v1'];

/** The plaintext: decrypted with the identity file or the passphrase; an unencrypted text as it is. */
async function decrypt(path: string, raw: Uint8Array, flags: z.infer<typeof OpenFlags>): Promise<Uint8Array> {
  const head = new TextDecoder().decode(raw.subarray(0, 64)).trimStart();
  if (!AGE_HEADS.some((h) => head.startsWith(h))) return raw;
  if (flags.identity !== undefined && flags.passphraseFile !== undefined) throw new InvalidInputError([{ source: '-i', message: 'give either -i IDENTITY or --passphrase-file, not both' }]);
  if (flags.identity !== undefined) return decryptWith(await readIdentities(flags.identity), raw);
  if (flags.passphraseFile !== undefined) {
    const passphrase = (await readSmallText(flags.passphraseFile, 'cannot read the passphrase file')).split('\n')[0]?.trim() ?? '';
    return decryptWithPassphrase(passphrase, raw);
  }
  // On a terminal, a bundle locked with a passphrase asks for it (no echo).
  if (canPrompt() && isPassphraseEncrypted(raw)) return decryptWithPassphrase(await promptHidden(`passphrase of ${path}: `), raw);
  throw new InvalidInputError([{ source: path, message: 'the bundle is encrypted' }], { hint: 'pass -i IDENTITY (your age key file), or --passphrase-file F (a file holding your passphrase), or run it on a terminal to be asked' });
}


/** The age identities of an identity file: `AGE-SECRET-KEY-1…` lines; blank lines and `#` comments skipped. */
async function readIdentities(file: string): Promise<string[]> {
  const text = await readSmallText(file, 'cannot read the identity file');
  const identities: string[] = [];
  const problems: { source: string; line: number; message: string }[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    if (line.startsWith('AGE-SECRET-KEY-1')) identities.push(line);
    else problems.push({ source: file, line: i + 1, message: 'not an age identity (expected AGE-SECRET-KEY-1…)' });
  });
  if (problems.length > 0) throw new InvalidInputError(problems);
  if (identities.length === 0) throw new InvalidInputError([{ source: file, message: 'holds no age identity' }], { hint: 'pass the file `age-keygen` wrote' });
  return identities;
}

/** A bundle is a few KiB; more than this is not one. */
const BUNDLE_MAX_BYTES = 4 * 1024 * 1024;
/** Passphrase, identity and pin files: a few lines. */
const SMALL_FILE_BYTES = 64 * 1024;

/** A small text file the member named (at most {@link SMALL_FILE_BYTES}); exit 2 with `problem` when it cannot be read. */
async function readSmallText(file: string, problem: string): Promise<string> {
  const bytes = await readCapped(file, SMALL_FILE_BYTES).catch((err: unknown) => {
    if (err instanceof InvalidInputError) throw err;
    throw new InvalidInputError([{ source: file, message: problem }], { cause: err });
  });
  return new TextDecoder().decode(bytes);
}

/** $ONIONFLEET_PIN_FILE, else ~/.config/onionfleet/pinned-controller. */
function pinFile(): string {
  return process.env.ONIONFLEET_PIN_FILE ?? join(homedir(), '.config/onionfleet/pinned-controller');
}

/**
 * Trust on first use: the first bundle's key is written to the pin file; later bundles must be
 * signed by that key (or the fingerprint written there by hand).
 */
async function checkPin(path: string, key: string, fingerprint: string, ctx: CliContext): Promise<void> {
  const file = pinFile();
  const pinned = await readCapped(file, SMALL_FILE_BYTES).then(
    (bytes) => new TextDecoder().decode(bytes),
  ).then(
    (text) => text.split('\n').map((l) => l.trim()).find((l) => l !== '' && !l.startsWith('#')) ?? null,
    (err: unknown) => {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new InvalidInputError([{ source: file, message: 'cannot read the pinned controller key' }], { cause: err });
    },
  );
  if (pinned === null) {
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    await writeFileAtomic(file, `# onionfleet: the controller whose bundles you accept (pinned on first use)\n${key}\n`, { mode: 0o600 });
    ctx.output.err(`pinned the controller key ${fingerprint} in ${file} (first use): check it against the fingerprint your admin gave you`);
    return;
  }
  if (pinned === key || pinned === fingerprint) return;
  throw new InvalidInputError([{ source: path, message: `signed by ${fingerprint}, but the pinned controller is ${describePin(pinned)}` }], {
    hint: `if your admin really replaced the controller key, compare the new fingerprint with them, then delete ${file} (or pass --controller-key)`,
  });
}

function describePin(pinned: string): string {
  if (pinned.startsWith('SHA256:')) return pinned;
  try {
    return keyFingerprint(pinned);
  } catch {
    return 'unreadable (the pin file is damaged)';
  }
}
