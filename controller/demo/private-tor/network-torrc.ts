/**
 * torrc lines of a private Tor network on loopback (docs/reference/tor.md, "A private Tor network on
 * loopback"), and parsers for what tor and tor-gencert print while one is made. For the tests and the
 * demo only (fenced: production code never imports controller/demo/). Pure: no I/O.
 */

/**
 * Options every tor of a private test network needs (docs/reference/tor.md). `TestingTorNetwork` makes tor accept
 * loopback relays and fast voting; the vote options make every relay a guard and an HSDir, so a
 * handful of relays can carry onion services.
 */
export const TEST_NETWORK_OPTIONS: readonly string[] = [
  'TestingTorNetwork 1',
  'PathsNeededToBuildCircuits 0.67',
  'TestingDirAuthVoteExit *',
  'TestingDirAuthVoteHSDir *',
  'TestingDirAuthVoteGuard *',
  'TestingMinExitFlagThreshold 0',
  'V3AuthNIntervalsValid 2',
  'ShutdownWaitLength 2',
];

/** One directory authority of a private network, as every tor of the network must know it. */
export interface AuthorityIdentity {
  readonly nickname: string;
  readonly orPort: number;
  readonly dirPort: number;
  /** The authority's v3 identity: the `fingerprint` line of its authority_certificate (40 hex). */
  readonly v3ident: string;
  /** Its relay identity fingerprint (40 hex), from `tor --list-fingerprint`. */
  readonly fingerprint: string;
}

/** The `DirAuthority` line for an authority on 127.0.0.1. Throws a RangeError on a malformed identity. */
export function dirAuthorityLine(a: AuthorityIdentity): string {
  if (!isNickname(a.nickname)) throw new RangeError(`not a tor nickname: ${a.nickname}`);
  if (!HEX40.test(a.v3ident) || !HEX40.test(a.fingerprint)) throw new RangeError(`malformed identity for authority ${a.nickname}`);
  if (!isPort(a.orPort) || !isPort(a.dirPort)) throw new RangeError(`bad ports for authority ${a.nickname}`);
  return `DirAuthority ${a.nickname} orport=${a.orPort} no-v2 v3ident=${a.v3ident} 127.0.0.1:${a.dirPort} ${a.fingerprint}`;
}

/** A listener port: a number, or `auto` (tor picks a free one and advertises what it bound). */
export type PortChoice = number | 'auto';

/**
 * The lines of a relay of the private network: bound to 127.0.0.1 explicitly (a bare port would also
 * listen on 0.0.0.0), no exit, and `AssumeReachable 1` — without it tor 0.4.9's relays never pass
 * their self-test in a tiny network and clients hang at 95 % (docs/reference/tor.md). Throws a RangeError for a bad
 * nickname or port.
 */
export function relayLines(o: { readonly nickname: string; readonly orPort: PortChoice; readonly dirPort: PortChoice }): string[] {
  if (!isNickname(o.nickname)) throw new RangeError(`not a tor nickname: ${o.nickname}`);
  for (const p of [o.orPort, o.dirPort]) if (p !== 'auto' && !isPort(p)) throw new RangeError(`bad port for relay ${o.nickname}: ${p}`);
  return [
    `Nickname ${o.nickname}`,
    `ORPort 127.0.0.1:${o.orPort}`,
    `DirPort 127.0.0.1:${o.dirPort}`,
    'Address 127.0.0.1',
    'ExitRelay 0',
    'AssumeReachable 1',
  ];
}

/**
 * A relay's lines plus those of a v3 directory authority with 20-second voting (docs/reference/tor.md). Its ports
 * are fixed: every tor of the network names them in its DirAuthority lines.
 */
export function authorityLines(o: { readonly nickname: string; readonly orPort: number; readonly dirPort: number }): string[] {
  return [
    ...relayLines(o),
    'AuthoritativeDirectory 1',
    'V3AuthoritativeDirectory 1',
    `ContactInfo ${o.nickname}@onionfleet.test`,
    'TestingV3AuthInitialVotingInterval 20',
    'TestingV3AuthInitialVoteDelay 4',
    'TestingV3AuthInitialDistDelay 4',
    'V3AuthVotingInterval 20',
    'V3AuthVoteDelay 4',
    'V3AuthDistDelay 4',
  ];
}

const HEX40 = /^[0-9A-F]{40}$/;

/** True for a valid relay nickname: 1–19 ASCII letters and digits. */
export function isNickname(s: string): boolean {
  return /^[A-Za-z0-9]{1,19}$/.test(s);
}

function isPort(n: number): boolean {
  return Number.isInteger(n) && n > 0 && n < 65536;
}

/**
 * The relay fingerprint in the output of `tor --list-fingerprint`: its last non-empty line is
 * `<nickname> XXXX XXXX …` (ten groups of four hex digits). Returns the 40 hex digits, or null.
 */
export function parseListFingerprint(output: string): string | null {
  const last = output.trim().split('\n').at(-1)?.trim() ?? '';
  const match = /^\S+ ((?:[0-9A-F]{4} ){9}[0-9A-F]{4})$/.exec(last);
  return match?.[1]?.replaceAll(' ', '') ?? null;
}

/** The v3 identity in an `authority_certificate`: its `fingerprint <40 hex>` line, or null. */
export function parseCertificateFingerprint(certificate: string): string | null {
  return /^fingerprint ([0-9A-F]{40})$/m.exec(certificate)?.[1] ?? null;
}

/**
 * A torrc fragment holding a private network's lines, for a tor started elsewhere to `%include`
 * (`serve --tor --tor-config FILE`, simulated Pis).
 */
export function renderNetworkTorrc(lines: readonly string[]): string {
  return `# A private Tor network on loopback (onionfleet tests and demo): include it in each tor that joins.\n${lines.join('\n')}\n`;
}
