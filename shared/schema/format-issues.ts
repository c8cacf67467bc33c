/**
 * Turns zod issues into the one-line problems of the CLI contract
 * (`fleet.yaml: groups.press.tier: expected one of standard, elevated, high, extreme`).
 * Pure: no I/O.
 */
import type { z } from 'zod';
import type { Problem } from '../errors.ts';

/** Error map for `safeParse(…, { error: messages })`: short messages that say what was expected. */
export const messages: z.core.$ZodErrorMap = (issue) => {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'required';
      return `expected ${EXPECTED[issue.expected] ?? issue.expected}, got ${describe(issue.input)}`;
    case 'invalid_value':
      return issue.values.length === 1
        ? `expected ${String(issue.values[0])}`
        : `expected one of ${issue.values.map(String).join(', ')}`;
    case 'unrecognized_keys': {
      const known = knownKeys(issue.inst);
      if (issue.keys.length === 1) {
        const near = nearest(issue.keys[0] ?? '', known);
        if (near !== null) return `unknown key; did you mean "${near}"?`;
      }
      const list = issue.keys.length === 1 ? 'unknown key' : `unknown keys ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
      return known.length > 0 ? `${list}; expected one of ${known.join(', ')}` : list;
    }
    case 'too_small':
      if (issue.origin === 'string') return `must not be shorter than ${String(issue.minimum)} characters`;
      if (issue.origin === 'array') return `must hold at least ${String(issue.minimum)} items`;
      return `must be at least ${String(issue.minimum)}`;
    case 'too_big':
      if (issue.origin === 'string') return `must not be longer than ${String(issue.maximum)} characters`;
      if (issue.origin === 'array') return `must hold at most ${String(issue.maximum)} items`;
      return `must be at most ${String(issue.maximum)}`;
    case 'invalid_format':
      return `expected a valid ${issue.format}`;
    default:
      return undefined;
  }
};

const EXPECTED: Readonly<Partial<Record<string, string>>> = {
  object: 'a mapping (key: value)',
  array: 'a list',
  string: 'text',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  record: 'a mapping (key: value)',
};

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `"${v.length > 40 ? `${v.slice(0, 40)}…` : v}"`;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return typeof v;
}

function knownKeys(inst: unknown): string[] {
  const shape = (inst as { _zod?: { def?: { shape?: Record<string, unknown> } } } | undefined)?._zod?.def?.shape;
  return shape ? Object.keys(shape) : [];
}

/** The known key within edit distance 2 of `key`, or null. */
function nearest(key: string, known: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = 3;
  for (const k of known) {
    const d = editDistance(key.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

/**
 * Renders a zod path against the raw input: a list element that has a string `id` is named by it
 * (`groups.press.tier`), other list elements by index (`groups.press.members[1]`).
 */
export function formatPath(path: readonly PropertyKey[], input: unknown): string {
  let out = '';
  let node: unknown = input;
  for (const seg of path) {
    if (typeof seg === 'number') {
      const item: unknown = Array.isArray(node) ? node[seg] : undefined;
      const id = item !== null && typeof item === 'object' ? (item as { id?: unknown }).id : undefined;
      out += typeof id === 'string' && id !== '' ? `${out === '' ? '' : '.'}${id}` : `[${String(seg)}]`;
      node = item;
    } else {
      out += `${out === '' ? '' : '.'}${String(seg)}`;
      node = node !== null && typeof node === 'object' ? (node as Record<PropertyKey, unknown>)[seg] : undefined;
    }
  }
  return out;
}

/** One problem per zod issue, named by `source` (a file name) and the issue's path. */
export function issuesToProblems(source: string, issues: readonly z.core.$ZodIssue[], input: unknown): Problem[] {
  return issues.map((issue) => {
    const path = [...issue.path];
    if (issue.code === 'unrecognized_keys' && issue.keys.length === 1) path.push(issue.keys[0] ?? '');
    return { source, path: formatPath(path, input), message: issue.message };
  });
}
