import { z } from 'zod';
import { parseFlags } from '#shared/cli/flags.ts';
import { toJson } from '#shared/cli/output.ts';
import { canPrompt, promptHidden } from '#shared/cli/prompt.ts';
import type { CliContext } from '#shared/cli/run-main.ts';
import { decryptWith, decryptWithPassphrase, isPassphraseEncrypted } from '#shared/crypto/age.ts';
import { sshFingerprint, verifySshSignature } from '#shared/crypto/sshsig.ts';
import { InvalidInputError } from '#shared/errors.ts';
import { readCapped } from '#shared/fs/read-capped.ts';
import { parseBundleBody, verifyBundle, type BundleInput } from '../../bundle/document.ts';
import { terminalQr } from '../../bundle/export.ts';
import { readTrust, trustFiles, writeTrust } from '../../bundle/trust-file.ts';
import { BUNDLE_NAMESPACE, decideTrust, describeOldPin, pinNames, withTrusted } from '../../bundle/trusted-signers.ts';
import { ControllerKey, parseControllerKey } from './bundle-trust.ts';

const OpenFlags = z.object({
  identity: z.string().optional(),
  passphraseFile: z.string().optional(),
  controllerKey: ControllerKey.optional(),
  signature: z.string().min(1).optional(),
  qr: z.enum(['terminal', 'none']).default('none'),
  json: z.boolean().default(false),
});

/** How the signer was accepted: named in `--json` as `trust`. */
type Accepted = 'expected' | 'known' | 'first-use' | 'carried-over';

/**
 * `onionfleet bundle open FILE [-i IDENTITY | --passphrase-file F] [--controller-key KEY] [--signature SIG] [--qr terminal]`:
 * checks the SSH signature beside the file (FILE.sig, when there), decrypts it (asking for the
 * passphrase on a terminal when neither -i nor --passphrase-file is given), checks the signature
 * inside, and prints the servers. The signer must be --controller-key, or the key trusted for the
 * bundle's fleet (recorded on first use, like ssh's known_hosts). Exit 2 for a file that is
 * damaged, altered, not for this identity, or signed by another key than the fleet's.
 */
export async function bundleOpen(file: unknown, opts: unknown, ctx: CliContext): Promise<void> {
  const flags = parseFlags(OpenFlags, opts);
  const path = z.string().min(1).parse(file);
  const raw = await readFileOf(path, BUNDLE_MAX_BYTES, 'cannot read');
  const sshKey = await checkSshSignature(path, raw, flags.signature);
  const text = new TextDecoder().decode(await decrypt(path, raw, flags));
  const checked = verifyBundle(text, null);
  if (!checked.ok) throw new InvalidInputError([{ source: path, message: checked.message }], { hint: 'ask your admin for a fresh copy of your bundle' });
  if (sshKey !== null && sshKey.key !== checked.key) {
    throw new InvalidInputError([{ source: flags.signature ?? `${path}.sig`, message: `signed by ${sshFingerprint(sshKey.key)}, but the bundle inside by ${sshFingerprint(checked.key)}` }], { hint: 'the two files do not belong together: ask your admin for a fresh copy of both' });
  }
  const doc = parseBundleBody(checked.body);
  if (doc === null) throw new InvalidInputError([{ source: path, message: 'signed, but not a bundle this version of onionfleet can read' }], { hint: 'update onionfleet' });
  const fingerprint = sshFingerprint(checked.key);
  const trust = flags.controllerKey === undefined ? await checkTrust(path, doc.fleet, checked.key, ctx) : expectKey(path, flags.controllerKey, checked.key);
  const signature = sshKey === null ? null : sshKey.file;
  if (flags.json) {
    ctx.output.out(toJson({
      group: doc.group, version: doc.version, date: doc.date, fleet: doc.fleet, smp: doc.smp, xftp: doc.xftp, retire: doc.retire,
      controllerKey: checked.key, fingerprint: checked.fingerprint, sshFingerprint: fingerprint, trust, sshSignature: signature,
    }));
    return;
  }
  if (signature === null) ctx.output.err(`no SSH signature beside ${path} (an older bundle): checked the signature inside it`);
  ctx.output.out(await openText(doc, fingerprint, flags.qr === 'terminal'));
}

/**
 * The SSH signature of the file's bytes: `--signature`, else FILE.sig when it exists; null when
 * there is none (bundles of earlier versions). The key it names is checked against the one inside.
 *
 * @throws {InvalidInputError} when the signature is damaged, of another namespace, or does not fit the file.
 */
async function checkSshSignature(path: string, raw: Uint8Array, given: string | undefined): Promise<{ key: string; file: string } | null> {
  const file = given ?? `${path}.sig`;
  const text = given === undefined ? await readOptionalText(file) : new TextDecoder().decode(await readFileOf(file, SMALL_FILE_BYTES, 'cannot read the signature'));
  if (text === null) return null;
  const check = verifySshSignature(text, BUNDLE_NAMESPACE, raw);
  if (!check.ok) throw new InvalidInputError([{ source: file, message: check.message }], { hint: 'do not use the bundle: ask your admin for a fresh copy of it and its .sig' });
  return { key: check.key, file };
}

/** --controller-key: the signer must be that key (either fingerprint, or the key itself). */
function expectKey(path: string, expected: string, key: string): Accepted {
  const wanted = parseControllerKey(expected);
  if (wanted.startsWith('ed25519:') ? wanted === key : pinNames(wanted, key)) return 'expected';
  throw new InvalidInputError([{ source: path, message: `signed by ${sshFingerprint(key)}, not by the expected controller ${wanted.startsWith('ed25519:') ? sshFingerprint(wanted) : wanted}` }], {
    hint: 'this bundle was not made by your controller; ask your admin for a new one',
  });
}

/**
 * The trusted fleets: a known fleet's bundle must be signed by its key; a new fleet is trusted on
 * first use (recorded, with a line telling the member to compare the fingerprint); a changed key is
 * refused with both fingerprints.
 */
async function checkTrust(path: string, fleet: string, key: string, ctx: CliContext): Promise<Accepted> {
  const files = trustFiles();
  const trust = await readTrust(files);
  const fingerprint = sshFingerprint(key);
  const decision = decideTrust(trust.signers, trust.oldPin, fleet, key);
  switch (decision.kind) {
    case 'known':
      return 'known';
    case 'changed':
      throw new InvalidInputError([{ source: path, message: `fleet "${fleet}" is trusted with controller key ${decision.trusted.map(sshFingerprint).join(', ')}, but this bundle is signed by ${fingerprint}` }], {
        hint: `do not use it. Only if your admin confirms in person that the key changed to ${fingerprint}: onionfleet bundle untrust ${fleet}, then open it again`,
      });
    case 'old-pin-differs':
      throw new InvalidInputError([{ source: path, message: `signed by ${fingerprint} (fleet "${fleet}"), but the controller pinned in ${files.oldPin} is ${describeOldPin(decision.pinned)}` }], {
        hint: `if this is a second fleet, open a bundle of your first fleet once (its pin then moves to ${files.allowedSigners}), or trust this fleet with the allowed_signers line its admin gave you: onionfleet bundle trust FILE`,
      });
    case 'first-use':
    case 'carried-over':
      await writeTrust(files, withTrusted(trust.signers, fleet, key));
      ctx.output.err(decision.kind === 'first-use'
        ? `first bundle of fleet "${fleet}": trusting its controller key ${fingerprint} from now on (recorded in ${files.allowedSigners}); check it against the fingerprint your admin gave you`
        : `fleet "${fleet}": its key ${fingerprint} is the one pinned in ${files.oldPin}; now recorded per fleet in ${files.allowedSigners}`);
      return decision.kind;
  }
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
    const passphrase = new TextDecoder().decode(await readFileOf(flags.passphraseFile, SMALL_FILE_BYTES, 'cannot read the passphrase file')).split('\n')[0]?.trim() ?? '';
    return decryptWithPassphrase(passphrase, raw);
  }
  // On a terminal, a bundle locked with a passphrase asks for it (no echo).
  if (canPrompt() && isPassphraseEncrypted(raw)) return decryptWithPassphrase(await promptHidden(`passphrase of ${path}: `), raw);
  throw new InvalidInputError([{ source: path, message: 'the bundle is encrypted' }], { hint: 'pass -i IDENTITY (your age key file), or --passphrase-file F (a file holding your passphrase), or run it on a terminal to be asked' });
}

/** The age identities of an identity file: `AGE-SECRET-KEY-1…` lines; blank lines and `#` comments skipped. */
async function readIdentities(file: string): Promise<string[]> {
  const text = new TextDecoder().decode(await readFileOf(file, SMALL_FILE_BYTES, 'cannot read the identity file'));
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

/** A bundle (or page) is a few KiB; more than this is not one. */
const BUNDLE_MAX_BYTES = 4 * 1024 * 1024;
/** Passphrase, identity and signature files: a few lines. */
const SMALL_FILE_BYTES = 64 * 1024;

/** A file the member named (at most `max` bytes); exit 2 with `problem` (or "no such file") when it cannot be read. */
async function readFileOf(file: string, max: number, problem: string): Promise<Uint8Array> {
  return readCapped(file, max).catch((err: unknown) => {
    if (err instanceof InvalidInputError) throw err;
    throw new InvalidInputError([{ source: file, message: (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : problem }], { cause: err });
  });
}

/** The text of `file`, or null when there is no such file. */
async function readOptionalText(file: string): Promise<string | null> {
  try {
    return new TextDecoder().decode(await readCapped(file, SMALL_FILE_BYTES));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    if (err instanceof InvalidInputError) throw err;
    throw new InvalidInputError([{ source: file, message: 'cannot read the signature' }], { cause: err });
  }
}
