/** Durations on the command line (`--expires 24h`): units s, m, h, d; bounds; clear messages. */
import { describe, expect, it } from 'vitest';
import { durationSchema, parseDurationMs } from '#shared/schema/duration.ts';

describe('parseDurationMs', () => {
  it('reads a whole number and one unit', () => {
    expect(parseDurationMs('1s')).toBe(1_000);
    expect(parseDurationMs('90s')).toBe(90_000);
    expect(parseDurationMs('15m')).toBe(900_000);
    expect(parseDurationMs('24h')).toBe(86_400_000);
    expect(parseDurationMs('7d')).toBe(604_800_000);
    expect(parseDurationMs('0s')).toBe(0);
  });

  it('refuses anything else', () => {
    for (const bad of ['', '24', 'h', '1.5h', '-1h', '+1h', ' 1h', '1 h', '1H', '1w', '1h30m', '99999999s', '1e3s']) {
      expect(parseDurationMs(bad), bad).toBeNull();
    }
  });
});

describe('durationSchema', () => {
  const schema = durationSchema('1s', '30d');
  const issues = (text: string) => {
    const r = schema.safeParse(text);
    return r.success ? [] : r.error.issues.map((i) => i.message);
  };

  it('parses to milliseconds within the bounds (inclusive)', () => {
    expect(schema.parse('1s')).toBe(1_000);
    expect(schema.parse('30d')).toBe(30 * 86_400_000);
    expect(schema.parse(' 24h ')).toBe(86_400_000);
  });

  it('says what was expected, and which bound was passed', () => {
    expect(issues('tomorrow')).toEqual(['expected a duration such as 30m, 24h or 7d (units s, m, h, d)']);
    expect(issues('31d')).toEqual(['must be at most 30d']);
    expect(issues('721h')).toEqual(['must be at most 30d']);
    expect(issues('0s')).toEqual(['must be at least 1s']);
  });

  it('refuses bounds that are not durations when it is defined', () => {
    expect(() => durationSchema('1x', '30d')).toThrow(/not durations/);
  });
});
