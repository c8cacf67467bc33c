/**
 * Durations as people type them on a command line: a whole number and one unit, `s`, `m`, `h` or
 * `d` (`90s`, `15m`, `24h`, `7d`). Pure: no I/O.
 */
import { z } from 'zod';
import { InternalError } from '../errors.ts';

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const PATTERN = /^(\d{1,7})([smhd])$/;

/**
 * A schema for a duration between `min` and `max` (both `<n><unit>` texts, inclusive), parsed to
 * milliseconds. Its issues say what was expected (`expected a duration such as 30m, 24h or 7d`,
 * `must be at most 30d`); they quote nothing else of the input.
 * Throws (at definition time) when `min` or `max` is not a duration itself.
 */
export function durationSchema(min: string, max: string) {
  const minMs = parseDurationMs(min);
  const maxMs = parseDurationMs(max);
  if (minMs === null || maxMs === null) throw new InternalError(`durationSchema(${min}, ${max}): not durations`);
  return z.string().transform((text, ctx) => {
    const ms = parseDurationMs(text.trim());
    if (ms === null) {
      ctx.addIssue({ code: 'custom', message: 'expected a duration such as 30m, 24h or 7d (units s, m, h, d)' });
      return z.NEVER;
    }
    if (ms < minMs) ctx.addIssue({ code: 'custom', message: `must be at least ${min}` });
    if (ms > maxMs) ctx.addIssue({ code: 'custom', message: `must be at most ${max}` });
    return ms;
  });
}

/**
 * A duration kept as written (`30m`), checked like durationSchema: for documents that are parsed
 * again after they were stored (a fleet spec in a rollout record), whose output must parse as input.
 */
export function durationTextSchema(min: string, max: string) {
  const checked = durationSchema(min, max);
  return z.string().superRefine((text, ctx) => {
    const result = checked.safeParse(text);
    if (!result.success) for (const issue of result.error.issues) ctx.addIssue({ code: 'custom', message: issue.message });
  });
}

/** `24h` → 86 400 000; null when `text` is not `<digits><s|m|h|d>` (no spaces, signs or fractions). Never throws. */
export function parseDurationMs(text: string): number | null {
  const match = PATTERN.exec(text);
  if (match === null) return null;
  const [, amount = '', unit = 's'] = match;
  return Number(amount) * UNIT_MS[unit as keyof typeof UNIT_MS];
}
