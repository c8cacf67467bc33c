/**
 * A private Tor network on loopback for end-to-end tests and the demo (docs/reference/tor.md): directory authorities
 * with keys from tor-gencert, relays, and any tor that joins through {@link PrivateTorNetwork.startTor}.
 * Every listener is bound to 127.0.0.1; with DirAuthority lines set, tor adds no default directories,
 * so nothing leaves the machine.
 *
 * Ports: the authorities' ORPort and DirPort must be written into every DirAuthority line before any
 * tor starts, so they are picked free on 127.0.0.1 beforehand; if another process takes one in
 * between, that tor refuses to start (`tor-port-in-use`) and the whole network is started again with
 * new ports. Relays, SOCKS and control ports are `auto`: tor binds them and reports what it bound.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { InvalidInputError, OperationFailedError } from '#shared/errors.ts';
import { writeFileAtomic } from '#shared/fs/atomic-write.ts';
import { freeLoopbackPort } from '#shared/net/free-port.ts';
import { consensusEntries, missingFromConsensus } from './consensus.ts';
import { makeAuthorityKeys } from './network-keys.ts';
import { TorProcess, type TorProcessOptions } from '../../tor/tor-process.ts';
import { authorityLines, dirAuthorityLine, relayLines, renderNetworkTorrc, TEST_NETWORK_OPTIONS } from './network-torrc.ts';

export interface PrivateTorNetworkOptions {
  /** The network's directory: one subdirectory per authority (`auth1`…) and relay (`relay1`…), replaced on start. */
  readonly dir: string;
  /** Default 3 (1–9). */
  readonly authorities?: number;
  /** Default 3 (1–20). With none, onion services never connect (docs/reference/tor.md). */
  readonly relays?: number;
  /** Default `tor`. */
  readonly binary?: string;
  /** Default `tor-gencert`. */
  readonly gencert?: string;
  /** How long the network may take to serve onions. Default 180 000 ms. */
  readonly readyTimeoutMs?: number;
  /** Told each node's progress lines (prefixed with its name) and the network's own milestones. */
  readonly onProgress?: (line: string) => void;
}

/** Flags every node must have in the consensus before onion services can use it. */
const SERVING_FLAGS = ['Running', 'Valid', 'HSDir'] as const;
const START_ATTEMPTS = 3;

/** A running private network; see the module comment. */
export class PrivateTorNetwork {
  readonly dir: string;
  readonly #lines: readonly string[];
  readonly #nodes: readonly TorProcess[];
  readonly #joined: TorProcess[] = [];
  readonly #binary: string;
  #stopped = false;

  private constructor(dir: string, lines: readonly string[], nodes: readonly TorProcess[], binary: string) {
    this.dir = dir;
    this.#lines = lines;
    this.#nodes = nodes;
    this.#binary = binary;
  }

  /**
   * Makes the authorities' keys, starts the authorities and relays, and resolves once every node is
   * bootstrapped and the first authority's consensus lists each of them as Running, Valid and HSDir —
   * then onion services can publish and be reached. Throws InvalidInputError for bad counts, and
   * OperationFailedError (a TorProcess or tor-gencert code, or `tor-network-timeout` naming the nodes
   * still missing) when the network does not come up; every tor started is stopped then.
   */
  static async start(o: PrivateTorNetworkOptions): Promise<PrivateTorNetwork> {
    const authorities = o.authorities ?? 3;
    const relays = o.relays ?? 3;
    const problems = [
      ...(Number.isInteger(authorities) && authorities >= 1 && authorities <= 9 ? [] : [{ source: 'private Tor network', path: 'authorities', message: 'expected an integer from 1 to 9' }]),
      ...(Number.isInteger(relays) && relays >= 1 && relays <= 20 ? [] : [{ source: 'private Tor network', path: 'relays', message: 'expected an integer from 1 to 20' }]),
    ];
    if (problems.length > 0) throw new InvalidInputError(problems);
    const dir = resolve(o.dir);
    await mkdir(dir, { recursive: true });
    for (let attempt = 1; ; attempt += 1) {
      try {
        const { lines, nodes } = await startOnce({ ...o, dir, authorities, relays });
        return new PrivateTorNetwork(dir, lines, nodes, o.binary ?? 'tor');
      } catch (err) {
        if (!(err instanceof OperationFailedError && err.code === 'tor-port-in-use') || attempt >= START_ATTEMPTS) throw err;
        o.onProgress?.(`network: a port was taken meanwhile; starting again with new ports (attempt ${attempt + 1})`);
      }
    }
  }

  /** The lines every tor joining the network needs: the test-network options and one DirAuthority line per authority. */
  networkLines(): string[] {
    return [...this.#lines];
  }

  /** Writes {@link networkLines} as a torrc fragment to `path` (atomically, 0644) for a tor started elsewhere to include. */
  async writeNetworkTorrc(path: string): Promise<void> {
    await writeFileAtomic(path, renderNetworkTorrc(this.#lines), { mode: 0o644 });
  }

  /**
   * {@link TorProcess.start} with the network's lines kept ahead of `o.lines` (across reloads too).
   * The tor is tracked: {@link stop} stops it. Throws what TorProcess.start throws, and
   * OperationFailedError `tor-network-stopped` after {@link stop}.
   */
  async startTor(o: Omit<TorProcessOptions, 'baseLines'>): Promise<TorProcess> {
    if (this.#stopped) throw new OperationFailedError('tor-network-stopped', 'the private Tor network was stopped');
    const tor = await TorProcess.start({ binary: this.#binary, ...o, baseLines: this.#lines });
    this.#joined.push(tor);
    return tor;
  }

  /** The pids of every tor this network started: authorities, relays and joined tors. */
  pids(): number[] {
    return [...this.#nodes, ...this.#joined].map((t) => t.pid);
  }

  /** Stops exactly the tors it started (joined ones first), each by its own pid. Never throws. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all(this.#joined.map((t) => t.stop()));
    await Promise.all(this.#nodes.map((t) => t.stop()));
  }
}

type Resolved = PrivateTorNetworkOptions & { readonly dir: string; readonly authorities: number; readonly relays: number };

/** One try at starting the network: its lines and its running authorities and relays. */
async function startOnce(o: Resolved): Promise<{ lines: string[]; nodes: TorProcess[] }> {
  const started: TorProcess[] = [];
  const progress = (line: string): void => { o.onProgress?.(line); };
  const deadline = Date.now() + (o.readyTimeoutMs ?? 180_000);
  try {
    // tor-gencert takes seconds per key (a 3072-bit RSA identity): make them all at once.
    const authorities = await Promise.all(Array.from({ length: o.authorities }, async (_, i) => {
      const nickname = `auth${i + 1}`;
      const dir = join(o.dir, nickname);
      await rm(dir, { recursive: true, force: true });
      const [orPort, dirPort] = await freePortPair();
      return { dir, identity: await makeAuthorityKeys({ nickname, dataDir: join(dir, 'data'), orPort, dirPort, tor: o.binary, gencert: o.gencert }) };
    }));
    progress(`network: ${o.authorities} authorities' keys made`);
    const lines = [...TEST_NETWORK_OPTIONS, ...authorities.map((a) => dirAuthorityLine(a.identity))];
    const node = (name: string, dir: string, nodeLines: string[]): Promise<TorProcess> => TorProcess.start({
      name, dir, baseLines: lines, lines: nodeLines, binary: o.binary, waitForBootstrap: false,
      onProgress: (line) => { progress(`${name}: ${line}`); },
    });
    await startAll(started, authorities.map((a) => () => node(a.identity.nickname, a.dir, authorityLines(a.identity))));
    const relayNames = Array.from({ length: o.relays }, (_, i) => `relay${i + 1}`);
    for (const name of relayNames) await rm(join(o.dir, name), { recursive: true, force: true });
    await startAll(started, relayNames.map((name) => () => node(name, join(o.dir, name), relayLines({ nickname: name, orPort: 'auto', dirPort: 'auto' }))));
    progress(`network: ${started.length} tors started`);
    await waitUntilServing(started, deadline, progress);
    return { lines, nodes: started };
  } catch (err) {
    await Promise.all(started.map((t) => t.stop()));
    throw err;
  }
}

/** Starts every tor at once; each one that started is added to `started`, even when another fails. */
async function startAll(started: TorProcess[], starts: readonly (() => Promise<TorProcess>)[]): Promise<void> {
  const results = await Promise.allSettled(starts.map((s) => s()));
  for (const r of results) if (r.status === 'fulfilled') started.push(r.value);
  const failed = results.find((r) => r.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
}

/** Every node bootstrapped, then the first authority's consensus lists every node with {@link SERVING_FLAGS}. */
async function waitUntilServing(nodes: readonly TorProcess[], deadline: number, progress: (line: string) => void): Promise<void> {
  const remaining = (): number => Math.max(1, deadline - Date.now());
  await Promise.all(nodes.map((n) => n.waitBootstrapped(remaining())));
  progress('network: every node bootstrapped');
  const authority = nodes[0];
  if (authority === undefined) return;
  const names = nodes.map((n) => n.name);
  let missing = names;
  for (;;) {
    const consensus = (await authority.control.getinfo('ns/all')).get('ns/all') ?? '';
    const now = missingFromConsensus(consensusEntries(consensus), names, SERVING_FLAGS);
    if (now.length !== missing.length) progress(`network: the consensus lists ${names.length - now.length}/${names.length} nodes`);
    missing = now;
    if (missing.length === 0) return;
    if (Date.now() > deadline) {
      throw new OperationFailedError('tor-network-timeout', `the private Tor network's consensus still lacks ${missing.join(', ')} (as ${SERVING_FLAGS.join(', ')})`);
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** Two different ports that were free on 127.0.0.1 a moment ago. */
async function freePortPair(): Promise<[number, number]> {
  const first = await freeLoopbackPort();
  for (;;) {
    const second = await freeLoopbackPort();
    if (second !== first) return [first, second];
  }
}
