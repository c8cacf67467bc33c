/**
 * Reads a JSON document and parses it with a schema at the boundary. Problems name the file and field.
 */
import { readFile } from 'node:fs/promises';
import type { z } from 'zod';
import { InvalidInputError } from '../errors.ts';
import { issuesToProblems, messages } from '../schema/format-issues.ts';

/** Throws {@link InvalidInputError} (exit 2) when the file is missing, not JSON, or not a `schema`. */
export async function loadJson<S extends z.ZodType>(path: string, schema: S, what: string): Promise<z.infer<S>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
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
