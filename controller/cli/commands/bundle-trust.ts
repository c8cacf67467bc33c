import { z } from 'zod';
import { parseFlags } from '#shared/cli/flags.ts';
import { toJson } from '#shared/cli/output.ts';
import type { CliContext } from '#shared/cli/run-main.ts';
import { parseSshPublicKey, sshFingerprint } from '#shared/crypto/sshsig.ts';
import { InvalidInputError } from '#shared/errors.ts';
import { readCapped } from '#shared/fs/read-capped.ts';
import { Id } from '#shared/schema/common.ts';
import { readTrust, trustFiles, writeTrust } from '../../bundle/trust-file.ts';
import { parseTrustedSigners, withTrusted, type TrustedSigner } from '../../bundle/trusted-signers.ts';

const SSH_KEY = /^ssh-ed25519 [A-Za-z0-9+/]+={0,2}$/;

/** A controller's key as a member gives it: `ed25519:…`, `ssh-ed25519 AAAA…`, or a `SHA256:` fingerprint (either kind). */
export const ControllerKey = z.string().trim().regex(/^(?:ed25519:[A-Za-z0-9_-]{43}|SHA256:[A-Za-z0-9+/]{43}|ssh-ed25519 [A-Za-z0-9+/]+={0,2})$/, {
  error: 'expected the controller\'s fingerprint (SHA256:…, 50 characters) or key (ssh-ed25519 AAAA… or ed25519:…)',
});

/** `ed25519:…` for a key in either form; a fingerprint as it is. @throws {InvalidInputError} for an `ssh-ed25519` text that is no key. */
export function parseControllerKey(text: string): string {
  if (!SSH_KEY.test(text)) return text;
  const key = parseSshPublicKey(text);
  if (key === null) throw new InvalidInputError([{ source: '--controller-key', message: 'not a valid ssh-ed25519 key' }]);
  return key;
}

const Flags = z.object({
  fleet: Id.optional(),
  key: ControllerKey.optional(),
  json: z.boolean().default(false),
});

/**
 * `onionfleet bundle trust FILE | --fleet F --key KEY [--json]`: trusts a fleet's controller key
 * from now on, replacing the key it had (after the admin confirmed a new key). FILE is an
 * allowed_signers file as `onionfleet bundle signer` prints it; KEY is `ssh-ed25519 AAAA…` or
 * `ed25519:…` (a fingerprint alone cannot check a signature).
 */
export async function bundleTrust(source: unknown, opts: unknown, ctx: CliContext): Promise<void> {
  const flags = parseFlags(Flags, opts);
  const given = await trustedFrom(z.string().min(1).optional().parse(source), flags);
  const files = trustFiles();
  const { signers } = await readTrust(files);
  let next = signers;
  const changes = given.map((g) => {
    const was = signers.filter((s) => s.fleet === g.fleet).map((s) => sshFingerprint(s.key));
    next = withTrusted(next, g.fleet, g.key);
    return { fleet: g.fleet, sshFingerprint: sshFingerprint(g.key), controllerKey: g.key, was };
  });
  await writeTrust(files, next);
  if (flags.json) {
    ctx.output.out(toJson({ file: files.allowedSigners, trusted: changes }));
    return;
  }
  ctx.output.out(changes.map((c) => {
    const before = c.was.filter((f) => f !== c.sshFingerprint);
    return `trusted fleet ${c.fleet}: ${c.sshFingerprint}${c.was.includes(c.sshFingerprint) && before.length === 0 ? ' (already)' : before.length > 0 ? ` (instead of ${before.join(', ')})` : ''}`;
  }).join('\n'));
  ctx.output.err(`recorded in ${files.allowedSigners}`);
}

/** The fleets and keys to trust: from the file, or from --fleet and --key (exactly one of the two). */
async function trustedFrom(file: string | undefined, flags: z.infer<typeof Flags>): Promise<TrustedSigner[]> {
  if (file !== undefined) {
    if (flags.fleet !== undefined || flags.key !== undefined) throw new InvalidInputError([{ source: 'bundle trust', message: 'give an allowed_signers FILE, or --fleet and --key, not both' }]);
    const bytes = await readCapped(file, 64 * 1024).catch((err: unknown) => {
      if (err instanceof InvalidInputError) throw err;
      throw new InvalidInputError([{ source: file, message: (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : 'cannot read' }], { cause: err });
    });
    const { signers, problems } = parseTrustedSigners(new TextDecoder().decode(bytes), file);
    if (problems.length > 0) throw new InvalidInputError(problems, { hint: 'pass the file `onionfleet bundle signer` printed for your admin' });
    if (signers.length === 0) throw new InvalidInputError([{ source: file, message: 'holds no line for namespace onionfleet-bundle' }], { hint: 'pass the file `onionfleet bundle signer` printed for your admin' });
    return signers;
  }
  if (flags.fleet === undefined || flags.key === undefined) throw new InvalidInputError([{ source: 'bundle trust', message: 'give an allowed_signers FILE, or both --fleet and --key' }]);
  const key = parseControllerKey(flags.key);
  if (!key.startsWith('ed25519:')) throw new InvalidInputError([{ source: '--key', message: 'a fingerprint cannot check a signature: give the key itself (ssh-ed25519 AAAA…)' }], { hint: 'the allowed_signers line your admin gave you ends with it' });
  return [{ fleet: flags.fleet, key }];
}
