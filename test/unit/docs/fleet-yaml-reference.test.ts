/**
 * docs/reference/fleet-yaml.md against the schema it documents (shared/schema/fleet-spec.ts).
 *
 * The schema is walked through zod 4's own definitions (`.shape` of objects, `_zod.def` of the
 * wrappers) to list every key path, such as `devices[].capacity.memoryMb`. The doc's key tables are
 * the Markdown tables whose header is exactly `| key | type | required | default | constraints |`;
 * each row's first cell is a key path in backticks. Both lists must be equal, and each row must
 * agree with the schema on whether the key is required, its default, the values of an enum and the
 * range of a whole number. The doc's complete example must parse and use every key.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { FleetSpec } from '#shared/schema/fleet-spec.ts';

const DOC_PATH = new URL('../../../docs/reference/fleet-yaml.md', import.meta.url);
const KEY_TABLE_HEADER = '| key | type | required | default | constraints |';

// ---------------------------------------------------------------------------------------------
// The schema's side

/** What the doc must say about one key. */
interface SchemaKey {
  readonly path: string;
  readonly required: boolean;
  /** Present when the schema fills in a default. */
  readonly default?: { readonly value: unknown };
  /** An enum's values, e.g. the tiers. */
  readonly values?: readonly string[];
  /** A whole number's range. */
  readonly range?: { readonly min: number; readonly max: number };
}

/** The parts of zod 4's internal definition this walk reads. */
interface Def {
  readonly type: string;
  readonly shape?: Record<string, Schema>;
  readonly innerType?: Schema;
  readonly element?: Schema;
  readonly options?: readonly Schema[];
  readonly in?: Schema;
  readonly defaultValue?: unknown;
  readonly entries?: Record<string, string>;
}
interface Schema {
  readonly _zod: { readonly def: Def };
  readonly minValue?: number | null;
  readonly maxValue?: number | null;
}

/** Every key path below `schema`, outermost first. */
function schemaKeys(schema: Schema, prefix = ''): SchemaKey[] {
  const def = schema._zod.def;
  switch (def.type) {
    case 'object':
      return Object.entries(def.shape ?? {}).flatMap(([name, child]) => describeKey(`${prefix}${prefix === '' ? '' : '.'}${name}`, child));
    case 'array':
      return def.element === undefined ? [] : schemaKeys(def.element, `${prefix}[]`);
    case 'optional':
    case 'default':
    case 'nullable':
      return def.innerType === undefined ? [] : schemaKeys(def.innerType, prefix);
    case 'pipe':
      return def.in === undefined ? [] : schemaKeys(def.in, prefix);
    case 'union':
      return uniqueByPath((def.options ?? []).flatMap((option) => schemaKeys(option, prefix)));
    default:
      return []; // a value: string, number, boolean, enum, literal, record (free names)
  }
}

/** One key, then the keys inside its value. */
function describeKey(path: string, schema: Schema): SchemaKey[] {
  let optional = false;
  let defaulted: { value: unknown } | undefined;
  let inner = schema;
  for (;;) {
    const def = inner._zod.def;
    if (def.type === 'optional' || def.type === 'nullable') optional = true;
    else if (def.type === 'default') defaulted ??= { value: def.defaultValue };
    else break;
    if (def.innerType === undefined) break;
    inner = def.innerType;
  }
  const def = inner._zod.def;
  const key: SchemaKey = {
    path,
    required: !optional && defaulted === undefined,
    ...(defaulted === undefined ? {} : { default: defaulted }),
    ...(def.type === 'enum' ? { values: Object.values(def.entries ?? {}) } : {}),
    ...(def.type === 'number' && typeof inner.minValue === 'number' && typeof inner.maxValue === 'number'
      ? { range: { min: inner.minValue, max: inner.maxValue } }
      : {}),
  };
  return [key, ...schemaKeys(inner, path)];
}

function uniqueByPath(keys: readonly SchemaKey[]): SchemaKey[] {
  return [...new Map(keys.map((k) => [k.path, k])).values()];
}

// ---------------------------------------------------------------------------------------------
// The doc's side

/** One row of a key table. */
interface DocRow {
  readonly path: string;
  readonly type: string;
  readonly required: string;
  readonly default: string;
  readonly constraints: string;
  readonly line: number;
}

/** The rows of every key table in `markdown`. */
function keyTableRows(markdown: string): DocRow[] {
  const lines = markdown.split('\n');
  const rows: DocRow[] = [];
  lines.forEach((line, i) => {
    if (line.trim() !== KEY_TABLE_HEADER) return;
    for (let j = i + 2; j < lines.length && (lines[j] ?? '').startsWith('|'); j++) {
      const cells = splitRow(lines[j] ?? '');
      const path = /^`([^`]+)`$/.exec(cells[0] ?? '')?.[1];
      if (cells.length !== 5 || path === undefined) throw new Error(`fleet-yaml.md:${j + 1}: expected five cells, the first a key in backticks`);
      const [, type = '', required = '', defaultCell = '', constraints = ''] = cells;
      rows.push({ path, type, required, default: defaultCell, constraints, line: j + 1 });
    }
  });
  return rows;
}

/** The cells of a Markdown table row (no cell of a key table contains a `|`). */
function splitRow(line: string): string[] {
  return line.trim().replace(/^\||\|$/g, '').split('|').map((cell) => cell.trim());
}

/** The first ```yaml block after the heading `## A complete example`. */
function completeExample(markdown: string): string {
  const section = markdown.slice(markdown.indexOf('## A complete example'));
  const block = /```yaml\n([\s\S]*?)```/.exec(section)?.[1];
  if (block === undefined) throw new Error('fleet-yaml.md: no yaml block under "## A complete example"');
  return block;
}

/** The key paths a YAML value uses, in the doc's notation. Mappings below `labels` hold free names. */
function usedKeys(value: unknown, prefix = ''): string[] {
  if (Array.isArray(value)) return value.flatMap((item) => usedKeys(item, `${prefix}[]`));
  if (value === null || typeof value !== 'object' || prefix.endsWith('.labels')) return [];
  return Object.entries(value).flatMap(([name, child]) => {
    const path = `${prefix}${prefix === '' ? '' : '.'}${name}`;
    return [path, ...usedKeys(child, path)];
  });
}

// ---------------------------------------------------------------------------------------------

const doc = readFileSync(DOC_PATH, 'utf8');
const rows = keyTableRows(doc);
const rowOf = new Map(rows.map((r) => [r.path, r]));
const keys = schemaKeys(FleetSpec);

describe('docs/reference/fleet-yaml.md', () => {
  it('finds the schema keys and the key tables (the walk and the parser work)', () => {
    expect(keys.map((k) => k.path)).toEqual(expect.arrayContaining(['version', 'devices[].capacity.memoryMb', 'binaries.xftp-server.sha256']));
    expect(rows.length).toBeGreaterThan(20);
  });

  it('documents every key of the schema', () => {
    const undocumented = keys.map((k) => k.path).filter((path) => !rowOf.has(path));
    expect(undocumented, 'add a row for each to a key table of docs/reference/fleet-yaml.md').toEqual([]);
  });

  it('documents no key the schema lacks, and each key once', () => {
    const known = new Set(keys.map((k) => k.path));
    expect(rows.map((r) => r.path).filter((path) => !known.has(path))).toEqual([]);
    expect(rows.map((r) => r.path).filter((path, i, all) => all.indexOf(path) !== i)).toEqual([]);
  });

  it.each(keys.map((k) => [k.path, k] as const))('%s: required and default as in the schema', (_path, key) => {
    const row = rowOf.get(key.path);
    if (row === undefined) return; // reported above
    expect(row.required, `line ${row.line}`).toBe(key.required ? 'yes' : 'no');
    if (key.default === undefined) {
      expect(row.default, `line ${row.line}: the schema has no default`).toBe('—');
    } else {
      const written = /^`([^`]+)`$/.exec(row.default)?.[1];
      expect(written, `line ${row.line}: a default is written as YAML in backticks`).toBeDefined();
      expect(parseYaml(written ?? ''), `line ${row.line}`).toEqual(key.default.value);
    }
  });

  it.each(keys.filter((k) => k.values !== undefined).map((k) => [k.path, k] as const))('%s: lists every value of the enum', (_path, key) => {
    const row = rowOf.get(key.path);
    for (const value of key.values ?? []) expect(row?.constraints, `line ${row?.line}`).toContain(`\`${value}\``);
  });

  it.each(keys.filter((k) => k.range !== undefined).map((k) => [k.path, k] as const))('%s: states the range', (_path, key) => {
    const row = rowOf.get(key.path);
    expect(row?.constraints, `line ${row?.line}`).toContain(`\`${key.range?.min}..${key.range?.max}\``);
  });

  it('has a complete example that is valid and uses every key', () => {
    const raw: unknown = parseYaml(completeExample(doc));
    const parsed = FleetSpec.safeParse(raw);
    expect(parsed.error?.issues ?? []).toEqual([]);
    const used = new Set(usedKeys(raw));
    expect(keys.map((k) => k.path).filter((path) => !used.has(path))).toEqual([]);
  });
});
