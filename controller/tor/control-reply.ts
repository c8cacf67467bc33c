/**
 * Tor's control protocol, the text side (control-spec §2.3–2.5): replies assembled from lines,
 * GETINFO values, quoted strings, PROTOCOLINFO and the bootstrap phase. Pure: no I/O.
 */

/** One line of a reply: its status, its text, and the data block when it was a `+` line. */
export interface ReplyLine {
  readonly status: number;
  readonly text: string;
  /** The lines after a `XYZ+` line up to the lone `.`, dot-unescaped and joined with `\n`; otherwise null. */
  readonly data: string | null;
}

/** A whole reply: the status of its final line, and every line. Status 6xx is an asynchronous event. */
export interface ControlReply {
  readonly status: number;
  readonly lines: readonly ReplyLine[];
}

/**
 * Turns the lines tor sends (without CRLF) into whole replies. Feed every line to {@link push}; it
 * returns a reply when that line completed one. Throws a RangeError on a line that is not
 * `<3 digits><- + or space><text>` outside a data block (the connection is then unusable).
 */
export class ReplyAssembler {
  #lines: ReplyLine[] = [];
  #open: { status: number; text: string; data: string[] } | null = null;

  push(raw: string): ControlReply | null {
    if (this.#open !== null) {
      if (raw === '.') {
        const { status, text, data } = this.#open;
        this.#lines.push({ status, text, data: data.join('\n') });
        this.#open = null;
      } else {
        this.#open.data.push(raw.startsWith('.') ? raw.slice(1) : raw);
      }
      return null;
    }
    const match = /^(\d{3})([- +])(.*)$/s.exec(raw);
    if (match === null) throw new RangeError('malformed control-port reply line');
    const status = Number(match[1]);
    const text = match[3] ?? '';
    switch (match[2]) {
      case '+':
        this.#open = { status, text, data: [] };
        return null;
      case '-':
        this.#lines.push({ status, text, data: null });
        return null;
      default: {
        const lines = [...this.#lines, { status, text, data: null }];
        this.#lines = [];
        return { status, lines };
      }
    }
  }
}

/** True for an asynchronous event (status 6xx) rather than the answer to a command. */
export function isEvent(reply: ControlReply): boolean {
  return reply.status >= 600 && reply.status < 700;
}

/** The reply's text for an error message: its lines' texts joined with `; ` (data blocks left out). */
export function replyText(reply: ControlReply): string {
  return reply.lines.map((l) => l.text).join('; ');
}

/**
 * The `key=value` pairs of a GETINFO reply (`250-key=value`, or `250+key=` and a data block).
 * The final `250 OK` and lines without `=` are skipped.
 */
export function parseGetinfo(reply: ControlReply): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of reply.lines) {
    const eq = line.text.indexOf('=');
    if (line.status !== 250 || eq <= 0) continue;
    values.set(line.text.slice(0, eq), line.data ?? line.text.slice(eq + 1));
  }
  return values;
}

const ESCAPES: Readonly<Record<string, string>> = { n: '\n', r: '\r', t: '\t' };

/**
 * The strings of a space-separated list of control-protocol quoted strings
 * (`"127.0.0.1:9050" "[::1]:9050"`); backslash escapes `\" \\ \n \r \t` are undone. Unquoted words
 * are taken as they are. Returns null when a quote is not closed.
 */
export function parseQuotedList(value: string): string[] | null {
  const out: string[] = [];
  let i = 0;
  while (i < value.length) {
    if (value[i] === ' ') {
      i += 1;
      continue;
    }
    if (value[i] !== '"') {
      const end = value.indexOf(' ', i);
      out.push(value.slice(i, end === -1 ? undefined : end));
      i = end === -1 ? value.length : end;
      continue;
    }
    let s = '';
    i += 1;
    for (;;) {
      const c = value[i];
      if (c === undefined) return null;
      i += 1;
      if (c === '"') break;
      if (c === '\\') {
        const next = value[i];
        if (next === undefined) return null;
        s += ESCAPES[next] ?? next;
        i += 1;
      } else {
        s += c;
      }
    }
    out.push(s);
  }
  return out;
}

/**
 * The `KEY=value` arguments of a reply or event line (values quoted or bare), e.g. of
 * `NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY="Done"`. Words without `=` are skipped.
 */
export function parseKeywords(text: string): Map<string, string> {
  const out = new Map<string, string>();
  const pattern = /([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|\S*)/g;
  for (const m of text.matchAll(pattern)) {
    const raw = m[2] ?? '';
    const value = raw.startsWith('"') ? parseQuotedList(raw)?.[0] ?? '' : raw;
    out.set(m[1] ?? '', value);
  }
  return out;
}

/** The PROGRESS of a `status/bootstrap-phase` value (0–100), or null when it has none. */
export function bootstrapProgress(value: string): number | null {
  const progress = parseKeywords(value).get('PROGRESS');
  if (progress === undefined || !/^\d{1,3}$/.test(progress)) return null;
  return Number(progress);
}

/** What PROTOCOLINFO says about authentication. */
export interface ProtocolInfo {
  /** e.g. `['COOKIE', 'SAFECOOKIE']`. */
  readonly methods: readonly string[];
  /** The cookie file's absolute path, when a cookie method is offered. */
  readonly cookieFile: string | null;
}

/** Reads the `AUTH METHODS=… COOKIEFILE="…"` line of a PROTOCOLINFO reply. */
export function parseProtocolInfo(reply: ControlReply): ProtocolInfo {
  const auth = reply.lines.find((l) => l.text.startsWith('AUTH '));
  if (auth === undefined) return { methods: [], cookieFile: null };
  const keywords = parseKeywords(auth.text);
  const methods = (keywords.get('METHODS') ?? '').split(',').filter((m) => m !== '');
  return { methods, cookieFile: keywords.get('COOKIEFILE') ?? null };
}
