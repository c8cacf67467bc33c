import type { z } from 'zod';
import { InvalidInputError } from '../errors.ts';
import { messages } from '../schema/format-issues.ts';

/** Parses a command's options with `schema`; a problem names the flag (`--timeout: must be at least 1`). */
export function parseFlags<S extends z.ZodType>(schema: S, opts: unknown): z.infer<S> {
  const result = schema.safeParse(opts, { error: messages, reportInput: true });
  if (result.success) return result.data;
  throw new InvalidInputError(
    result.error.issues.map((issue) => {
      const flag = issue.path[0];
      const name = typeof flag === 'string' ? `--${flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}` : 'options';
      return { source: name, message: issue.message };
    }),
  );
}
