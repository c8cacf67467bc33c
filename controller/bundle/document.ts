/**
 * The members' server bundle as a document: a readable text (the group's SMP and XFTP addresses,
 * the terminal client's lines, the recommended client settings, the servers to retire) followed by
 * an ed25519 signature block. Also what the next bundle holds, given the last one.
 *
 * Pure: no file, socket, clock or randomness — dates and keys are arguments. Signing is ed25519,
 * which is deterministic, so the same input gives the same bytes.
 *
 * Format contract: the signature covers exactly the UTF-8 bytes of everything above the
 * `-----BEGIN ONIONFLEET SIGNATURE-----` line (the body, ending with a newline). The body is
 * canonical: {@link parseBundleBody} accepts only a text {@link renderBundle} would write.
 */
import { InvalidInputError } from '#shared/errors.ts';
import { keyFingerprint, publicKeyOf, sign, verify } from '#shared/crypto/sign.ts';

/** An address members should remove from their clients after a date. */
export interface RetiredAddress {
  readonly address: string;
  /** ISO date (YYYY-MM-DD). */
  readonly after: string;
}

/** Everything a bundle says. */
export interface BundleInput {
  readonly fleet: string;
  readonly group: string;
  /** 1, 2, …: goes up when the servers or the retire list change. */
  readonly version: number;
  /** ISO date (YYYY-MM-DD) the version was made. */
  readonly date: string;
  readonly smp: readonly string[];
  readonly xftp: readonly string[];
  readonly retire: readonly RetiredAddress[];
}

/** Why {@link verifyBundle} refused a text: a closed set, with a sentence in `message`. */
export type BundleRejection = 'unsigned' | 'malformed' | 'bad-signature' | 'unexpected-key';

export type BundleVerification =
  | { readonly ok: true; readonly body: string; readonly key: string; readonly fingerprint: string }
  | { readonly ok: false; readonly reason: BundleRejection; readonly message: string };

/** Days a dropped address stays listed under "Servers to retire" (members have time to move). */
export const RETIRE_AFTER_DAYS = 14;

const TITLE = 'ONIONFLEET SERVER BUNDLE';
const FORMAT = 'onionfleet-bundle/1';
const BEGIN = '-----BEGIN ONIONFLEET SIGNATURE-----';
const END = '-----END ONIONFLEET SIGNATURE-----';
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const ID = /^[a-z0-9][a-z0-9-]{0,62}$/;
/** Printable ASCII except `/`, `:` and `@` (shared/crypto/fingerprint.ts's server passwords). */
const PASSWORD = String.raw`[\x21-\x2e\x30-\x39\x3b-\x3f\x41-\x7e]+`;
const ADDRESS = {
  smp: new RegExp(String.raw`^smp://[A-Za-z0-9_-]{43}=?(?::${PASSWORD})?@[a-z2-7]{56}\.onion$`),
  xftp: new RegExp(String.raw`^xftp://[A-Za-z0-9_-]{43}=?(?::${PASSWORD})?@[a-z2-7]{56}\.onion$`),
};
const NO_XFTP = 'none (keep one XFTP server enabled in your app, or files cannot be sent)';

const INTRO = [
  'The SimpleX servers of your group. They are reachable only through Tor.',
  'In the app: Settings > Network & servers > Your servers > Add server, then paste each address',
  '(or scan its QR code). In the terminal client, run the two lines further down.',
];
/** The recommended client settings, one `- …` line each (the bundle's text and the member's page). */
export const BUNDLE_SETTINGS: readonly string[] = [
  '- Preset servers: off (disable every preset SMP and XFTP server).',
  '- The servers above: enabled, with "Use for new connections" on.',
  '- Private message routing: Always.',
  '- Allow to downgrade: No.',
  '- Tor: run Orbot, or set the SOCKS proxy to 127.0.0.1:9050 in Network & servers.',
  '- Use .onion hosts: Required.',
];
const OUTRO = [
  'Keep at least one SMP and one XFTP server enabled. Remove a retired server after its date.',
  'The signature below is checked by `onionfleet bundle open`: its fingerprint must be the one',
  'your admin gave you.',
];

/** True when `address` is an onion-only `smp://` or `xftp://` server address of that kind. */
export function isServerAddress(kind: 'smp' | 'xftp', address: string): boolean {
  return ADDRESS[kind].test(address);
}

function check(input: BundleInput): void {
  const problems: string[] = [];
  if (!ID.test(input.fleet)) problems.push('fleet: not a fleet name');
  if (!ID.test(input.group)) problems.push('group: not an id');
  if (!Number.isSafeInteger(input.version) || input.version < 1) problems.push('version: not a positive integer');
  if (!DATE.test(input.date)) problems.push('date: not YYYY-MM-DD');
  if (input.smp.length === 0) problems.push('smp: at least one SMP server is needed');
  input.smp.forEach((a, i) => (isServerAddress('smp', a) ? undefined : problems.push(`smp[${i}]: not an smp:// onion address`)));
  input.xftp.forEach((a, i) => (isServerAddress('xftp', a) ? undefined : problems.push(`xftp[${i}]: not an xftp:// onion address`)));
  input.retire.forEach((r, i) => {
    if (!isServerAddress('smp', r.address) && !isServerAddress('xftp', r.address)) problems.push(`retire[${i}].address: not a server address`);
    if (!DATE.test(r.after)) problems.push(`retire[${i}].after: not YYYY-MM-DD`);
  });
  // A device reports its addresses: a malformed one must never add lines to what members read.
  if (problems.length > 0) throw new InvalidInputError(problems.map((message) => ({ source: 'bundle', message })));
}

/**
 * The bundle's body: a readable text ending with a newline, ASCII only.
 *
 * @throws {InvalidInputError} when a field is malformed (an address that is not an onion
 *   `smp://`/`xftp://` address, a date that is not YYYY-MM-DD, no SMP server, …).
 */
export function renderBundle(input: BundleInput): string {
  check(input);
  const { group, version, date, smp, xftp, retire } = input;
  return [
    `${TITLE} - group ${group} - version ${version} - ${date}`,
    `fleet: ${input.fleet}`,
    `format: ${FORMAT}`,
    '',
    ...INTRO,
    '',
    'SMP servers',
    ...smp,
    '',
    'XFTP servers',
    ...(xftp.length === 0 ? [NO_XFTP] : xftp),
    '',
    'Terminal client (simplex-chat)',
    `/smp ${smp.join(' ')}`,
    ...(xftp.length === 0 ? [] : [`/xftp ${xftp.join(' ')}`]),
    '',
    'Recommended client settings for a closed group',
    ...BUNDLE_SETTINGS,
    '',
    'Servers to retire',
    ...(retire.length === 0 ? ['none'] : retire.map((r) => `${r.address}  retire after ${r.after}`)),
    '',
    ...OUTRO,
    '',
  ].join('\n');
}

/**
 * `text` (a newline is added when it lacks one) followed by the signature block over it.
 *
 * @throws {InvalidInputError} when `signingSecretKey` is malformed or does not belong to
 *   `publicKey`, or `text` already holds a signature block.
 */
export function signBundle(text: string, signingSecretKey: string, publicKey: string): string {
  if (publicKeyOf(signingSecretKey) !== publicKey) throw new InvalidInputError([{ source: 'signing key', message: 'the secret key does not belong to the public key' }]);
  if (text.includes(BEGIN)) throw new InvalidInputError([{ source: 'bundle', message: 'the text already holds a signature block' }]);
  const body = text.endsWith('\n') ? text : `${text}\n`;
  const signature = sign(signingSecretKey, new TextEncoder().encode(body));
  return `${body}${BEGIN}\nkey: ${publicKey}\nfingerprint: ${keyFingerprint(publicKey)}\nsignature: ${signature}\n${END}\n`;
}

/**
 * Splits a signed text into the signed body and the block's fields. Checks the block's shape
 * only, not the signature. Returns null when there is no well-formed block at the end (anything
 * but whitespace after the END line counts as malformed).
 */
export function parseSignedBundle(text: string): { body: string; key: string; fingerprint: string; signature: string } | null {
  const at = text.lastIndexOf(`\n${BEGIN}\n`);
  if (at < 0) return null;
  const block = /^key: (\S+)\nfingerprint: (\S+)\nsignature: (\S+)\n-----END ONIONFLEET SIGNATURE-----\s*$/.exec(text.slice(at + BEGIN.length + 2));
  if (block === null) return null;
  const [, key = '', fingerprint = '', signature = ''] = block;
  return { body: text.slice(0, at + 1), key, fingerprint, signature };
}

/**
 * Checks a signed bundle. `expected` is the signer's key (`ed25519:…`) or fingerprint
 * (`SHA256:…`); null accepts any key (the caller pins it). Never throws.
 */
export function verifyBundle(text: string, expected: string | null): BundleVerification {
  const parsed = parseSignedBundle(text);
  if (parsed === null) {
    return text.includes(BEGIN)
      ? { ok: false, reason: 'malformed', message: 'the signature block is damaged' }
      : { ok: false, reason: 'unsigned', message: 'not a signed onionfleet bundle (no signature block)' };
  }
  let fingerprint: string;
  try {
    fingerprint = keyFingerprint(parsed.key);
  } catch {
    return { ok: false, reason: 'malformed', message: 'the signature block names no valid ed25519 key' };
  }
  if (parsed.fingerprint !== fingerprint) return { ok: false, reason: 'malformed', message: 'the fingerprint line does not match the key' };
  if (!verify(parsed.key, new TextEncoder().encode(parsed.body), parsed.signature)) {
    return { ok: false, reason: 'bad-signature', message: 'the signature does not match the contents: the bundle was altered' };
  }
  if (expected !== null && expected !== parsed.key && expected !== fingerprint) {
    const wanted = expected.startsWith('SHA256:') ? expected : safeFingerprint(expected);
    return { ok: false, reason: 'unexpected-key', message: `signed by ${fingerprint}, not by the expected controller ${wanted}` };
  }
  return { ok: true, body: parsed.body, key: parsed.key, fingerprint };
}

function safeFingerprint(key: string): string {
  try {
    return keyFingerprint(key);
  } catch {
    return key;
  }
}

/** Lines of the section under `heading`, up to the next blank line; null when the heading is missing. */
function section(lines: readonly string[], heading: string): string[] | null {
  const start = lines.indexOf(heading);
  if (start < 0) return null;
  const end = lines.indexOf('', start);
  return lines.slice(start + 1, end < 0 ? lines.length : end);
}

/**
 * The fields of a body {@link renderBundle} wrote, or null when `body` is anything else (a
 * different format, or edited in any way: it must render back to exactly the same text).
 */
export function parseBundleBody(body: string): BundleInput | null {
  const lines = body.split('\n');
  const title = new RegExp(`^${TITLE} - group (\\S+) - version (\\d{1,15}) - (\\S+)$`).exec(lines[0] ?? '');
  const fleet = /^fleet: (\S+)$/.exec(lines[1] ?? '');
  const smp = section(lines, 'SMP servers');
  const xftp = section(lines, 'XFTP servers');
  const retire = section(lines, 'Servers to retire');
  if (title === null || fleet === null || smp === null || xftp === null || retire === null) return null;
  const retired: RetiredAddress[] = [];
  if (retire.join('\n') !== 'none') {
    for (const line of retire) {
      const m = /^(\S+) {2}retire after (\S+)$/.exec(line);
      if (m === null) return null;
      retired.push({ address: m[1] ?? '', after: m[2] ?? '' });
    }
  }
  const input: BundleInput = {
    fleet: fleet[1] ?? '', group: title[1] ?? '', version: Number(title[2]), date: title[3] ?? '',
    smp, xftp: xftp.join('\n') === NO_XFTP ? [] : xftp, retire: retired,
  };
  try {
    return renderBundle(input) === body ? input : null;
  } catch {
    return null;
  }
}

/** What a group's last bundle held (kept by the controller between exports). */
export interface BundleHistory {
  readonly version: number;
  readonly date: string;
  readonly smp: readonly string[];
  readonly xftp: readonly string[];
  readonly retire: readonly RetiredAddress[];
}

/** `date` (YYYY-MM-DD) plus `days`, in UTC. */
export function addDays(date: string, days: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);
}

/**
 * The next bundle of a group, given its last one (null: none yet), its servers now, and today's
 * date. Every address dropped since the last bundle is listed to retire after today +
 * {@link RETIRE_AFTER_DAYS}; listed ones stay until their date has passed (or they come back).
 * The version goes up (and the date moves to today) only when the servers or that list change,
 * so exporting twice gives the same document.
 */
export function planBundle(previous: BundleHistory | null, servers: { smp: readonly string[]; xftp: readonly string[] }, today: string,
  /** Addresses of a revoked device (a compromise): retired at once, listed with today's date, not a later one. */
  retiredNow: ReadonlySet<string> = new Set(),
  /** Addresses rotated away (`onionfleet rotate`): listed to retire on their rotation's date (YYYY-MM-DD). */
  retireOn: ReadonlyMap<string, string> = new Map()): BundleHistory & { changed: boolean } {
  const current = new Set([...servers.smp, ...servers.xftp]);
  const retire = new Map<string, string>();
  for (const r of previous?.retire ?? []) if (r.after >= today && !current.has(r.address)) retire.set(r.address, r.after);
  const after = addDays(today, RETIRE_AFTER_DAYS);
  for (const a of [...(previous?.smp ?? []), ...(previous?.xftp ?? [])]) if (!current.has(a)) retire.set(a, retiredNow.has(a) ? today : (retireOn.get(a) ?? after));
  for (const a of retiredNow) if (!current.has(a) && retire.has(a)) retire.set(a, today);
  const retired = [...retire].map(([address, on]) => ({ address, after: on })).sort((a, b) => (a.after === b.after ? (a.address < b.address ? -1 : 1) : a.after < b.after ? -1 : 1));
  const next = { smp: [...servers.smp], xftp: [...servers.xftp], retire: retired };
  const content = (h: Omit<BundleHistory, 'version' | 'date'>) => JSON.stringify([h.smp, h.xftp, h.retire.map((r) => [r.address, r.after])]);
  const same = previous !== null && content(previous) === content(next);
  if (same) return { ...next, version: previous.version, date: previous.date, changed: false };
  return { ...next, version: (previous?.version ?? 0) + 1, date: today, changed: true };
}
