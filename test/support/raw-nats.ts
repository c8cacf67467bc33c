/**
 * A NATS client that speaks the wire protocol itself, for attacks: it sends what a hostile party would
 * (any subject, any reply subject, any header, payloads above the negotiated max_payload) without the
 * checks a real client library makes first, and records every `-ERR` and `MSG` the server sends back.
 * Authenticates with an nkey seed (the nonce signed, as the server asks).
 */
import { connect, type Socket } from 'node:net';
import { fromSeed } from '@nats-io/nkeys';
import { until } from './processes.ts';

export interface RawMsg {
  readonly subject: string;
  readonly sid: string;
  readonly reply: string | null;
  readonly headers: string | null;
  readonly data: Buffer;
}

export class RawNats {
  readonly errors: string[] = [];
  readonly msgs: RawMsg[] = [];
  #buffer = Buffer.alloc(0);
  #pongs = 0;
  #closed = false;
  #nextSid = 1;
  readonly #socket: Socket;
  info: Record<string, unknown> | null = null;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => { this.#buffer = Buffer.concat([this.#buffer, chunk]); this.#parse(); });
    socket.on('close', () => { this.#closed = true; });
    socket.on('error', () => { this.#closed = true; });
  }

  /** Connects to `url` (`nats://127.0.0.1:<port>`) as the user of `seed`; throws when the server refuses it. */
  static async open(url: string, seed: string | Uint8Array, name = 'raw'): Promise<RawNats> {
    const { hostname, port } = new URL(url.replace(/^nats:/, 'http:'));
    const socket = connect(Number(port), hostname);
    const raw = new RawNats(socket);
    await until('the server INFO', () => raw.info ?? (raw.#closed ? Promise.reject(new Error('closed before INFO')) : null), 10_000);
    const kp = fromSeed(typeof seed === 'string' ? new TextEncoder().encode(seed) : seed);
    const nonce = typeof raw.info?.nonce === 'string' ? raw.info.nonce : '';
    const sig = Buffer.from(kp.sign(new TextEncoder().encode(nonce))).toString('base64');
    const hello = { verbose: false, pedantic: false, tls_required: false, name, lang: 'raw', version: '0', protocol: 1, headers: true, no_responders: true, nkey: kp.getPublicKey(), sig };
    raw.#write(`CONNECT ${JSON.stringify(hello)}\r\n`);
    await raw.sync();
    if (raw.errors.length > 0) throw new Error(`refused: ${raw.errors.join('; ')}`);
    return raw;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** PUB (or HPUB with `headers`): subject, optional reply, payload — as given, unchecked. */
  publish(subject: string, payload: Uint8Array | string = '', options: { reply?: string; headers?: Record<string, string> } = {}): void {
    const data = typeof payload === 'string' ? Buffer.from(payload) : Buffer.from(payload);
    const reply = options.reply === undefined ? '' : ` ${options.reply}`;
    if (options.headers === undefined) {
      this.#write(Buffer.concat([Buffer.from(`PUB ${subject}${reply} ${data.length}\r\n`), data, Buffer.from('\r\n')]));
      return;
    }
    const head = Buffer.from(`NATS/1.0\r\n${Object.entries(options.headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`);
    this.#write(Buffer.concat([Buffer.from(`HPUB ${subject}${reply} ${head.length} ${head.length + data.length}\r\n`), head, data, Buffer.from('\r\n')]));
  }

  /** SUB; returns the sid. */
  subscribe(subject: string): string {
    const sid = String(this.#nextSid++);
    this.#write(`SUB ${subject} ${sid}\r\n`);
    return sid;
  }

  /**
   * PING and wait for its PONG: the server handles a connection's commands in order, so every error
   * for what was sent before has arrived by then. Resolves too when the server closed the connection.
   */
  async sync(deadlineMs = 10_000): Promise<void> {
    if (this.#closed) return;
    const want = this.#pongs + 1;
    this.#write('PING\r\n');
    await until('PONG', () => (this.#pongs >= want || this.#closed ? true : null), deadlineMs);
  }

  close(): void {
    this.#socket.destroy();
  }

  #write(data: string | Buffer): void {
    if (!this.#closed) this.#socket.write(data);
  }

  #parse(): void {
    for (;;) {
      const end = this.#buffer.indexOf('\r\n');
      if (end < 0) return;
      const line = this.#buffer.subarray(0, end).toString();
      const [op = '', ...args] = line.split(' ');
      if (op === 'MSG' || op === 'HMSG') {
        const total = Number(args.at(-1));
        if (this.#buffer.length < end + 2 + total + 2) return;
        const body = this.#buffer.subarray(end + 2, end + 2 + total);
        const headerBytes = op === 'HMSG' ? Number(args.at(-2)) : 0;
        const reply = args.length === (op === 'HMSG' ? 5 : 4) ? (args[2] ?? null) : null;
        this.msgs.push({ subject: args[0] ?? '', sid: args[1] ?? '', reply, headers: headerBytes > 0 ? body.subarray(0, headerBytes).toString() : null, data: Buffer.from(body.subarray(headerBytes)) });
        this.#buffer = this.#buffer.subarray(end + 2 + total + 2);
        continue;
      }
      this.#buffer = this.#buffer.subarray(end + 2);
      if (op === 'INFO') this.info = JSON.parse(args.join(' ')) as Record<string, unknown>;
      else if (op === 'PING') this.#write('PONG\r\n');
      else if (op === 'PONG') this.#pongs++;
      else if (op === '-ERR') this.errors.push(args.join(' '));
    }
  }
}
