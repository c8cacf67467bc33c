/**
 * The member's trusted controllers, one per fleet, like ssh's `known_hosts`: kept as an OpenSSH
 * `allowed_signers` file (`<fleet> namespaces="onionfleet-bundle" ssh-ed25519 AAAA…`), so the very
 * file `bundle open` keeps is the one `ssh-keygen -Y verify -f FILE -I <fleet> -n onionfleet-bundle`
 * reads. Also what a bundle's signer means against it, and the older single pin
 * (`pinned-controller`: one key, no fleet) that machines of earlier versions hold.
 *
 * Pure: texts in, texts and decisions out; the command reads and writes the files.
 */
import { keyFingerprint } from '#shared/crypto/sign.ts';
import { allowedSignersLine, parseSshPublicKey, sshFingerprint } from '#shared/crypto/sshsig.ts';
import type { Problem } from '#shared/errors.ts';

/** The namespace of every bundle signature: `ssh-keygen -Y verify -n onionfleet-bundle`. */
export const BUNDLE_NAMESPACE = 'onionfleet-bundle';

/** One fleet whose controller the member trusts. */
export interface TrustedSigner {
  readonly fleet: string;
  /** `ed25519:…` (shared/crypto/sign.ts). */
  readonly key: string;
}

/** What a bundle's signer is, against the trusted signers and the old pin. */
export type TrustDecision =
  /** The fleet is trusted with this key. */
  | { readonly kind: 'known' }
  /** A fleet not seen before: trust it on first use (record it). */
  | { readonly kind: 'first-use' }
  /** Not seen before, but the old single pin holds this key: record it, no first-use warning. */
  | { readonly kind: 'carried-over' }
  /** The fleet is trusted with other keys: refuse. */
  | { readonly kind: 'changed'; readonly trusted: readonly string[] }
  /** An old pin no fleet has claimed yet holds another key: refuse (it may be that fleet's bundle). */
  | { readonly kind: 'old-pin-differs'; readonly pinned: string };

const FLEET = /^[a-z0-9][a-z0-9-]{0,62}$/;

/**
 * The entries of an allowed_signers text, or the problems (one per line it cannot use: naming the
 * line). Blank lines and `#` comments are skipped. A line may list several fleets (`a,b`); options
 * other than `namespaces=` are refused, and a `namespaces=` that leaves out onionfleet-bundle makes
 * the line not apply (it is skipped, as ssh-keygen would).
 */
export function parseTrustedSigners(text: string, source: string): { signers: TrustedSigner[]; problems: Problem[] } {
  const signers: TrustedSigner[] = [];
  const problems: Problem[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const problem = (message: string) => problems.push({ source, line: i + 1, message });
    const m = /^(\S+)\s+(?:namespaces="([^"]*)"\s+)?(ssh-ed25519\s+\S+)(?:\s.*)?$/.exec(line);
    if (m === null) return problem('expected `<fleet> namespaces="onionfleet-bundle" ssh-ed25519 AAAA…`');
    const [, principals = '', namespaces, keyText = ''] = m;
    const key = parseSshPublicKey(keyText);
    if (key === null) return problem('not a valid ssh-ed25519 key');
    const fleets = principals.split(',');
    const bad = fleets.find((f) => !FLEET.test(f));
    if (bad !== undefined) return problem(`"${bad.slice(0, 64)}" is not a fleet name (lowercase letters, digits, -)`);
    if (namespaces !== undefined && !namespaces.split(',').includes(BUNDLE_NAMESPACE)) return;
    for (const fleet of fleets) signers.push({ fleet, key });
  });
  return { signers, problems };
}

/** The allowed_signers line of one trusted fleet. */
export function trustedSignerLine(signer: TrustedSigner): string {
  return allowedSignersLine(signer.fleet, signer.key, BUNDLE_NAMESPACE);
}

const HEADER = [
  '# onionfleet: the controllers whose bundles you accept, one line per fleet (like ssh\'s known_hosts).',
  '# Also an OpenSSH allowed_signers file: ssh-keygen -Y verify -f THIS_FILE -I <fleet> -n onionfleet-bundle -s FILE.sig < FILE',
  '# Manage it with `onionfleet bundle trust` and `onionfleet bundle untrust`.',
];

/** The whole file for `signers` (sorted by fleet, then key), each line under a comment with its fingerprint. */
export function renderTrustedSigners(signers: readonly TrustedSigner[]): string {
  const sorted = [...signers].sort((a, b) => (a.fleet === b.fleet ? (a.key < b.key ? -1 : 1) : a.fleet < b.fleet ? -1 : 1));
  return `${[...HEADER, ...sorted.flatMap((s) => ['', `# fleet ${s.fleet}: ${sshFingerprint(s.key)}`, trustedSignerLine(s)])].join('\n')}\n`;
}

/** True when `pin` (a key `ed25519:…` or either kind of `SHA256:` fingerprint) names `key`. */
export function pinNames(pin: string, key: string): boolean {
  return pin === key || pin === keyFingerprint(key) || pin === sshFingerprint(key);
}

/**
 * What to do with a bundle of `fleet` signed by `key`. `oldPin` is the first line of the old
 * single-pin file (null when there is none); it still counts until some trusted fleet holds its key.
 */
export function decideTrust(signers: readonly TrustedSigner[], oldPin: string | null, fleet: string, key: string): TrustDecision {
  const trusted = signers.filter((s) => s.fleet === fleet).map((s) => s.key);
  if (trusted.includes(key)) return { kind: 'known' };
  if (trusted.length > 0) return { kind: 'changed', trusted };
  if (oldPin === null || signers.some((s) => pinNames(oldPin, s.key))) return { kind: 'first-use' };
  return pinNames(oldPin, key) ? { kind: 'carried-over' } : { kind: 'old-pin-differs', pinned: oldPin };
}

/** Every signer but those of `fleet`, plus `fleet` with `key` (replacing what it had). */
export function withTrusted(signers: readonly TrustedSigner[], fleet: string, key: string): TrustedSigner[] {
  return [...signers.filter((s) => s.fleet !== fleet), { fleet, key }];
}

/**
 * An old pin for people: its OpenSSH fingerprint when it is a key, else the fingerprint as
 * written (an old pin written by hand may be onionfleet's own `SHA256:` of the bare key).
 */
export function describeOldPin(pin: string): string {
  if (pin.startsWith('SHA256:')) return pin;
  try {
    return sshFingerprint(pin);
  } catch {
    return 'unreadable (the pin file is damaged)';
  }
}
