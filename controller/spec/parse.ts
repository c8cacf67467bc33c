/**
 * fleet.yaml bytes → a checked {@link FleetSpec}, or the list of problems. Pure: no I/O.
 * Order: size, UTF-8, nesting depth, YAML syntax (one document, duplicate keys, alias bombs), then
 * the schema with its cross-references — each stage reports everything it finds before stopping.
 */
import { parseDocument } from 'yaml';
import type { Problem } from '#shared/errors.ts';
import { issuesToProblems, messages } from '#shared/schema/format-issues.ts';
import { FleetSpec } from '#shared/schema/fleet-spec.ts';
import { findDeepNesting } from './nesting.ts';

/** Larger files are refused before parsing: a real fleet is a few hundred KB at most. */
export const MAX_SPEC_BYTES = 8 * 1024 * 1024;
/** Aliases beyond this many are treated as a resource-exhaustion attack ("billion laughs"). */
const MAX_ALIAS_COUNT = 100;
/**
 * Deeper nesting is refused before the YAML library sees it (it recurses per level and overflows
 * its stack near a thousand). A fleet nests four (the file's mapping → devices → a device → capacity).
 */
export const MAX_NESTING = 64;

export type ParseResult = { ok: true; spec: FleetSpec } | { ok: false; problems: Problem[] };

export function parseFleetSpec(bytes: Uint8Array, source: string): ParseResult {
  const fail = (message: string, at: { line?: number; col?: number } = {}): ParseResult => ({
    ok: false,
    problems: [{ source, message, ...at }],
  });
  if (bytes.byteLength > MAX_SPEC_BYTES) return fail(`file is larger than ${MAX_SPEC_BYTES / 1024 / 1024} MiB`);

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    return fail(`not valid UTF-8 text (first bad byte at offset ${firstInvalidUtf8Offset(bytes)})`);
  }
  if (text.trim() === '') return fail('empty file; expected a fleet (version: 1, fleet, operators, devices, groups, members)');

  const deep = findDeepNesting(text, MAX_NESTING);
  if (deep !== null) return fail(`nesting deeper than ${MAX_NESTING} levels`, { line: deep.line, col: deep.col });

  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true, version: '1.2', strict: true });
  // Should the scan above ever miss a depth the library cannot take, one line says so, not one per level.
  const exhausted = doc.errors.find((e) => e.code === 'RESOURCE_EXHAUSTION');
  if (exhausted !== undefined) {
    return fail('nested too deeply to read', { line: exhausted.linePos?.[0].line ?? 1, col: exhausted.linePos?.[0].col ?? 1 });
  }
  if (doc.errors.length > 0) {
    return {
      ok: false,
      problems: doc.errors.map((e) => ({
        source,
        message: yamlMessage(e.code, e.message, text.slice(e.pos[0], e.pos[0] + 200)),
        line: e.linePos?.[0].line ?? 1,
        col: e.linePos?.[0].col ?? 1,
      })),
    };
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch {
    // yaml throws only for excessive alias expansion here; syntax errors were collected above.
    return fail(`YAML aliases expand too far (more than ${MAX_ALIAS_COUNT} alias uses); write the values out instead`);
  }
  if (raw === null || raw === undefined) return fail('empty document; expected a fleet mapping');

  const parsed = FleetSpec.safeParse(raw, { error: messages, reportInput: true });
  if (!parsed.success) return { ok: false, problems: issuesToProblems(source, parsed.error.issues, raw) };
  return { ok: true, spec: parsed.data };
}

/** yaml's message without its context lines; a duplicate key is named from the source text at the error. */
function yamlMessage(code: string, message: string, at: string): string {
  const first = message.split('\n')[0] ?? message;
  const stripped = first.replace(/ at line \d+, column \d+:?$/, '');
  if (code === 'MULTIPLE_DOCS') return 'a fleet.yaml holds one YAML document, and a second one starts here; remove it or move it to a file of its own';
  if (code === 'DUPLICATE_KEY') {
    const key = /^\s*([^:\n]+?)\s*:/.exec(at)?.[1];
    return key === undefined ? 'duplicate key' : `duplicate key "${key}"`;
  }
  return `YAML syntax: ${stripped}`;
}

/** Length of the longest valid UTF-8 prefix (a streaming decode accepts a cut-off trailing sequence). */
function firstInvalidUtf8Offset(bytes: Uint8Array): number {
  let lo = 0;
  let hi = bytes.byteLength;
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, mid), { stream: true });
      lo = mid;
    } catch {
      hi = mid;
    }
  }
  return lo;
}
