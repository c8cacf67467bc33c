/**
 * The Prometheus text exposition format (0.0.4), both ways: read the samples of a file the SimpleX
 * servers write, and write families for node_exporter's textfile collector and `/metrics`. Pure.
 *
 * Reading is lenient where the servers are quirky (comment lines of any kind, a TYPE line whose
 * name differs from its samples', a millisecond timestamp on every sample) and strict where a
 * reader must be: a sample line that does not parse makes the whole text `null`, because a file
 * rewritten in place may be read half-written.
 */

/** One sample: metric name, labels, value (timestamps are dropped: textfiles must not carry them). */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** One metric family to write: its samples share the name (histograms aside) and the TYPE. */
export interface Family {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge' | 'untyped';
  readonly samples: readonly Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)(?:\s+(-?\d+))?\s*$/;

/** The samples of a text, or `null` when any sample line is malformed (e.g. a half-written file). */
export function parsePromText(text: string): Sample[] | null {
  const samples: Sample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    if (m === null) return null;
    const labels = m[2] === undefined ? {} : parseLabels(m[2].slice(1, -1));
    const value = parseValue(m[3] ?? '');
    if (labels === null || value === null) return null;
    samples.push({ name: m[1] ?? '', labels, value });
  }
  return samples;
}

function parseValue(text: string): number | null {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  const n = Number(text);
  return text !== '' && Number.isFinite(n) ? n : null;
}

/** `a="x",b="y\"z"` → record; `null` when malformed. */
function parseLabels(text: string): Record<string, string> | null {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    const eq = text.indexOf('=', i);
    if (eq < 0) return null;
    const name = text.slice(i, eq).trim();
    if (!LABEL_NAME.test(name) || text[eq + 1] !== '"') return null;
    let j = eq + 2;
    let value = '';
    for (; j < text.length && text[j] !== '"'; j++) {
      if (text[j] === '\\') {
        j++;
        value += text[j] === 'n' ? '\n' : (text[j] ?? '');
      } else value += text[j] ?? '';
    }
    if (j >= text.length) return null;
    labels[name] = value;
    i = j + 1;
    while (text[i] === ',' || text[i] === ' ') i++;
  }
  return labels;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/** One sample line, labels in the order given. */
export function formatSample(s: Sample): string {
  const entries = Object.entries(s.labels);
  const labels = entries.length === 0 ? '' : `{${entries.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`;
  return `${s.name}${labels} ${formatValue(s.value)}`;
}

/**
 * Families as exposition text: HELP and TYPE once per family, no timestamps. Families of the same
 * name are merged (first HELP/TYPE wins), so a caller may pass one family per instance.
 *
 * @throws Error on a metric or label name the format does not allow (a bug of the caller).
 */
export function formatFamilies(families: readonly Family[]): string {
  const merged = new Map<string, { help: string; type: string; lines: string[] }>();
  for (const f of families) {
    if (!NAME.test(f.name)) throw new Error(`formatFamilies: bad metric name ${f.name}`);
    const entry = merged.get(f.name) ?? { help: f.help, type: f.type, lines: [] };
    for (const s of f.samples) {
      for (const k of Object.keys(s.labels)) if (!LABEL_NAME.test(k)) throw new Error(`formatFamilies: bad label name ${k}`);
      entry.lines.push(formatSample(s));
    }
    merged.set(f.name, entry);
  }
  const out: string[] = [];
  for (const [name, f] of merged) out.push(`# HELP ${name} ${f.help.replace(/\n/g, ' ')}`, `# TYPE ${name} ${f.type}`, ...f.lines);
  return out.length === 0 ? '' : `${out.join('\n')}\n`;
}
