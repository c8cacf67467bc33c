/**
 * Reads a JSON document and parses it with a schema at the boundary. Problems name the file and field.
 */
import type { z } from 'zod';
import { InvalidInputError } from '../errors.ts';
import { issuesToProblems, messages } from '../schema/format-issues.ts';
import { readCapped } from './read-capped.ts';

/**
 * The most {@link loadJson} reads unless told otherwise: far above any plan, desired state or record
 * onionfleet writes, far below what would hurt a Raspberry Pi.
 */
export const MAX_JSON_BYTES = 16 * 1024 * 1024;

/**
 * Throws {@link InvalidInputError} (exit 2) when the file is missing, larger than `maxBytes`, not JSON,
 * or not a `schema`. Reads at most `maxBytes` + 1 bytes (see read-capped.ts).
 */
export async function loadJson<S extends z.ZodType>(path: string, schema: S, what: string, maxBytes = MAX_JSON_BYTES): Promise<z.infer<S>> {
  let text: string;
  try {
    text = new TextDecoder().decode(await readCapped(path, maxBytes));
  } catch (err) {
    if (err instanceof InvalidInputError) throw err;
    const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : `cannot be read: ${(err as Error).message}`;
    throw new InvalidInputError([{ source: path, message: why }], { cause: err });
  }
  return parseJsonText(text, path, schema, what);
}

/** `text` (read from `source`) as a `schema`. Throws {@link InvalidInputError} (exit 2) when it is not JSON or not a `schema`. */
export function parseJsonText<S extends z.ZodType>(text: string, source: string, schema: S, what: string): z.infer<S> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new InvalidInputError([{ source, message: `not ${what} (not valid JSON)` }], { cause: err });
  }
  const parsed = schema.safeParse(raw, { error: messages, reportInput: true });
  if (!parsed.success) throw new InvalidInputError(issuesToProblems(source, parsed.error.issues, raw));
  return parsed.data;
}
