/**
 * zod schemas for the flag values both CLIs share: whole numbers given as text (`--timeout 90`,
 * `--port 0`), refused with a message that quotes what was given rather than "got NaN".
 */
import { z } from 'zod';

/**
 * A whole number from `min` to `max`, given as decimal digits (or already a number: a default).
 * `what` names the unit in the message (`seconds`, `a port`).
 */
export function wholeNumber(min: number, max: number, what: string): z.ZodType<number, string | number> {
  return z.union([z.string(), z.number()]).transform((value, ctx) => {
    const text = String(value).trim();
    const n = /^\d{1,9}$/.test(text) ? Number(text) : Number.NaN;
    if (Number.isNaN(n)) {
      ctx.addIssue({ code: 'custom', message: `expected ${what} as a whole number, got ${JSON.stringify(String(value).slice(0, 40))}` });
      return z.NEVER;
    }
    if (n < min || n > max) {
      ctx.addIssue({ code: 'custom', message: `expected ${what} from ${min} to ${max}, got ${n}` });
      return z.NEVER;
    }
    return n;
  });
}

/** Seconds to wait, 1 to `max`. */
export const seconds = (max = 86_400): z.ZodType<number, string | number> => wholeNumber(1, max, 'seconds');
