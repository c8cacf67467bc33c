/** The agent ↔ gateway wire: requests round-trip; anything else is null, never an exception. */
import { describe, expect, it } from 'vitest';
import { decodeDesiredRequest, decodeRevision, encodeDesiredRequest } from '#shared/nats/device-wire.ts';

const bytes = (s: string) => new TextEncoder().encode(s);

describe('device wire', () => {
  it('round-trips a desired-state request', () => {
    for (const have of [null, 0, 7, 123_456]) expect(decodeDesiredRequest(encodeDesiredRequest({ have }))).toEqual({ have });
  });

  it('reads anything else as null', () => {
    for (const junk of ['', 'null', '{}', '{"have":-1}', '{"have":1.5}', '{"have":"3"}', '{"have":null,"x":1}', '[1]', '\u0000', '{"have":1e400}']) {
      expect(decodeDesiredRequest(bytes(junk))).toBeNull();
    }
  });

  it('reads a revision header only as a decimal non-negative integer', () => {
    expect(decodeRevision('0')).toBe(0);
    expect(decodeRevision('42')).toBe(42);
    for (const junk of [undefined, '', '-1', '01', '1.0', ' 1', '1e3', '99999999999999999']) expect(decodeRevision(junk)).toBeNull();
  });
});
