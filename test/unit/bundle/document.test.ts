/**
 * The members' bundle document: render → sign → verify; every byte above the signature is
 * covered; the expected key is enforced; the terminal client's lines and the retire section are
 * exact; the body parses back to what was rendered (and nothing else parses); the next bundle's
 * version and retire list follow the history.
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { runs } from '../../support/runs.ts';
import {
  addDays, parseBundleBody, parseSignedBundle, planBundle, renderBundle, RETIRE_AFTER_DAYS, signBundle, verifyBundle, type BundleInput,
} from '../../../controller/bundle/document.ts';
import { generateSigningKey, keyFingerprint } from '#shared/crypto/sign.ts';
import { InvalidInputError } from '#shared/errors.ts';

const B32 = 'abcdefghijklmnopqrstuvwxyz234567';
const onion = (seed: number) => `${Array.from({ length: 56 }, (_, i) => B32[(seed * 7 + i * 3) % 32]).join('')}.onion`;
const fp = (seed: number) => `${Array.from({ length: 43 }, (_, i) => 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'[(seed + i * 5) % 64]).join('')}=`;
const smp = (n: number) => `smp://${fp(n)}:pw${n}Secret@${onion(n)}`;
const xftp = (n: number) => `xftp://${fp(n + 100)}:pw${n}Files@${onion(n + 100)}`;

const KEY = generateSigningKey();
const OTHER = generateSigningKey();
const INPUT: BundleInput = {
  fleet: 'test-fleet', group: 'fam', version: 3, date: '2025-06-01',
  smp: [smp(1), smp(2), smp(3)], xftp: [xftp(1)], retire: [{ address: smp(9), after: '2025-06-15' }],
};
const signed = (input: BundleInput = INPUT) => signBundle(renderBundle(input), KEY.secretKey, KEY.publicKey);

describe('render → sign → verify', () => {
  it('verifies against the signer\'s fingerprint or key, and returns the signed body', () => {
    const text = signed();
    for (const expected of [keyFingerprint(KEY.publicKey), KEY.publicKey, null]) {
      expect(verifyBundle(text, expected)).toEqual({ ok: true, body: renderBundle(INPUT), key: KEY.publicKey, fingerprint: keyFingerprint(KEY.publicKey) });
    }
  });

  it('appends a block of key, fingerprint and signature after the body', () => {
    const text = signed();
    const body = renderBundle(INPUT);
    expect(text.startsWith(body)).toBe(true);
    expect(text.slice(body.length)).toMatch(
      /^-----BEGIN ONIONFLEET SIGNATURE-----\nkey: ed25519:[\w-]{43}\nfingerprint: SHA256:[\w+/]{43}\nsignature: [\w-]{86}\n-----END ONIONFLEET SIGNATURE-----\n$/,
    );
    expect(parseSignedBundle(text)).toMatchObject({ body, key: KEY.publicKey });
    expect(signed()).toBe(text); // ed25519 is deterministic: same input, same bytes
  });

  it('fails when any byte above the signature block changes', () => {
    const text = signed();
    const body = renderBundle(INPUT);
    for (let i = 0; i < body.length; i++) {
      const c = text.charCodeAt(i);
      const altered = text.slice(0, i) + String.fromCharCode(c === 0x41 ? 0x42 : 0x41) + text.slice(i + 1);
      const result = verifyBundle(altered, null);
      expect(result.ok, `byte ${i} changed`).toBe(false);
    }
    expect(verifyBundle(`${body.slice(0, 20)}${body.slice(21)}${text.slice(body.length)}`, null)).toMatchObject({ ok: false, reason: 'bad-signature' });
    expect(verifyBundle(`x${text}`, null)).toMatchObject({ ok: false, reason: 'bad-signature' });
  });

  it('fails for another expected fingerprint or key, naming the signer', () => {
    const text = signed();
    const result = verifyBundle(text, keyFingerprint(OTHER.publicKey));
    expect(result).toMatchObject({ ok: false, reason: 'unexpected-key' });
    expect(result.ok ? '' : result.message).toContain(keyFingerprint(KEY.publicKey));
    expect(verifyBundle(text, OTHER.publicKey)).toMatchObject({ ok: false, reason: 'unexpected-key' });
  });

  it('fails for a block swapped in from another key, a bad fingerprint line, text after the block, or no block', () => {
    const text = signed();
    const body = renderBundle(INPUT);
    const foreign = signBundle(body, OTHER.secretKey, OTHER.publicKey);
    const keyLine = (t: string) => t.split('\n').find((l) => l.startsWith('key: ')) ?? '';
    expect(verifyBundle(text.replace(keyLine(text), keyLine(foreign)), null)).toMatchObject({ ok: false, reason: 'malformed' });
    const fprLine = text.split('\n').find((l) => l.startsWith('fingerprint: ')) ?? '';
    expect(verifyBundle(text.replace(fprLine, `fingerprint: ${keyFingerprint(OTHER.publicKey)}`), null)).toMatchObject({ ok: false, reason: 'malformed' });
    expect(verifyBundle(`${text}smp://added-later\n`, null)).toMatchObject({ ok: false, reason: 'malformed' });
    expect(verifyBundle(body, null)).toMatchObject({ ok: false, reason: 'unsigned' });
    expect(verifyBundle(`${text}\n\n`, null).ok).toBe(true); // trailing whitespace is not content
  });

  it('refuses to sign with a key that does not belong to the public key', () => {
    expect(() => signBundle('text\n', KEY.secretKey, OTHER.publicKey)).toThrow(InvalidInputError);
    expect(() => signBundle(signed(), KEY.secretKey, KEY.publicKey)).toThrow(/already holds a signature/);
  });
});

describe('the document', () => {
  it('has the title, the server lists and the terminal client\'s exact lines', () => {
    const lines = renderBundle(INPUT).split('\n');
    expect(lines[0]).toBe('ONIONFLEET SERVER BUNDLE - group fam - version 3 - 2025-06-01');
    expect(lines).toContain(`/smp ${smp(1)} ${smp(2)} ${smp(3)}`);
    expect(lines).toContain(`/xftp ${xftp(1)}`);
    const at = lines.indexOf('SMP servers');
    expect(lines.slice(at, at + 5)).toEqual(['SMP servers', smp(1), smp(2), smp(3), '']);
    expect(lines.slice(lines.indexOf('XFTP servers'), lines.indexOf('XFTP servers') + 3)).toEqual(['XFTP servers', xftp(1), '']);
  });

  it('recommends the closed-group settings', () => {
    const text = renderBundle(INPUT);
    for (const phrase of ['Preset servers: off', '"Use for new connections"', 'Private message routing: Always', 'Allow to downgrade: No', 'Orbot', '127.0.0.1:9050', 'Use .onion hosts: Required']) {
      expect(text).toContain(phrase);
    }
  });

  it('lists servers to retire with their dates, or none', () => {
    const lines = renderBundle(INPUT).split('\n');
    expect(lines.slice(lines.indexOf('Servers to retire'), lines.indexOf('Servers to retire') + 3)).toEqual(['Servers to retire', `${smp(9)}  retire after 2025-06-15`, '']);
    const none = renderBundle({ ...INPUT, retire: [] }).split('\n');
    expect(none.slice(none.indexOf('Servers to retire'), none.indexOf('Servers to retire') + 3)).toEqual(['Servers to retire', 'none', '']);
  });

  it('leaves out /xftp when the group has no XFTP server', () => {
    const text = renderBundle({ ...INPUT, xftp: [] });
    expect(text).not.toContain('/xftp');
    expect(parseBundleBody(text)).toEqual({ ...INPUT, xftp: [] });
  });

  it('refuses an address that could add lines or is not an onion server address', () => {
    for (const bad of [`${smp(1)}\n/smp smp://evil`, `${smp(1)} ${smp(2)}`, 'smp://x@example.com', xftp(1)]) {
      expect(() => renderBundle({ ...INPUT, smp: [bad] }), bad).toThrow(InvalidInputError);
    }
    expect(() => renderBundle({ ...INPUT, smp: [] })).toThrow(/at least one SMP/);
    expect(() => renderBundle({ ...INPUT, date: '1 June' })).toThrow(InvalidInputError);
  });
});

describe('parseBundleBody', () => {
  const addressArb = (kind: 'smp' | 'xftp') => fc.integer({ min: 0, max: 10_000 }).map((n) => (kind === 'smp' ? smp(n) : xftp(n)));
  const inputArb = fc.record({
    fleet: fc.constantFrom('test-fleet', 'newsroom', 'a'),
    group: fc.constantFrom('fam', 'press-1', 'x'),
    version: fc.integer({ min: 1, max: 1_000_000 }),
    date: fc.date({ min: new Date('2020-01-01'), max: new Date('2099-12-31'), noInvalidDate: true }).map((d) => d.toISOString().slice(0, 10)),
    smp: fc.uniqueArray(addressArb('smp'), { minLength: 1, maxLength: 12 }),
    xftp: fc.uniqueArray(addressArb('xftp'), { maxLength: 3 }),
    retire: fc.array(fc.record({ address: addressArb('smp'), after: fc.constantFrom('2025-01-01', '2031-12-31') }), { maxLength: 4 }),
  });

  test.prop([inputArb], { numRuns: runs(200) })('reads back what renderBundle wrote', (input) => {
    expect(parseBundleBody(renderBundle(input))).toEqual(input);
  });

  it('reads nothing else: an edited body, another format, a signed text', () => {
    const body = renderBundle(INPUT);
    expect(parseBundleBody(body.replace('Always', 'Never'))).toBeNull();
    expect(parseBundleBody(body.replace(smp(2), `${smp(2)}\n${smp(4)}`))).toBeNull(); // the /smp line no longer agrees
    expect(parseBundleBody(body.replace('format: onionfleet-bundle/1', 'format: onionfleet-bundle/2'))).toBeNull();
    expect(parseBundleBody(signed())).toBeNull();
    expect(parseBundleBody('')).toBeNull();
  });
});

describe('planBundle', () => {
  const servers = { smp: [smp(1), smp(2), smp(3)], xftp: [xftp(1)] };

  it('starts at version 1 with nothing to retire', () => {
    expect(planBundle(null, servers, '2025-06-01')).toEqual({ ...servers, retire: [], version: 1, date: '2025-06-01', changed: true });
  });

  it('keeps version and date when nothing changed (the same document again)', () => {
    const first = planBundle(null, servers, '2025-06-01');
    expect(planBundle(first, servers, '2025-06-09')).toEqual({ ...first, changed: false });
  });

  it(`lists every dropped address to retire ${RETIRE_AFTER_DAYS} days later, until that date has passed`, () => {
    const first = planBundle(null, servers, '2025-06-01');
    const second = planBundle(first, { smp: [smp(1), smp(4)], xftp: [xftp(2)] }, '2025-06-10');
    expect(second).toMatchObject({ version: 2, date: '2025-06-10', changed: true });
    expect(second.retire).toEqual([smp(2), smp(3), xftp(1)].sort().map((address) => ({ address, after: '2025-06-24' })));
    const third = planBundle(second, { smp: [smp(1)], xftp: [xftp(2)] }, '2025-06-20');
    expect(third.retire).toEqual([...second.retire, { address: smp(4), after: '2025-07-04' }]);
    expect(planBundle(third, { smp: [smp(1)], xftp: [xftp(2)] }, '2025-06-24')).toMatchObject({ changed: false, version: 3 });
    expect(planBundle(third, { smp: [smp(1)], xftp: [xftp(2)] }, '2025-06-25')).toMatchObject({ changed: true, version: 4, retire: [{ address: smp(4), after: '2025-07-04' }] });
  });

  it('drops an address from the retire list when it comes back', () => {
    const first = planBundle(null, servers, '2025-06-01');
    const second = planBundle(first, { smp: [smp(1)], xftp: [xftp(1)] }, '2025-06-02');
    expect(planBundle(second, { smp: [smp(1), smp(2)], xftp: [xftp(1)] }, '2025-06-03').retire).toEqual([{ address: smp(3), after: '2025-06-16' }]);
  });

  it('adds days across months and years in UTC', () => {
    expect(addDays('2025-12-25', 14)).toBe('2026-01-08');
    expect(addDays('2024-02-20', 14)).toBe('2024-03-05');
  });
});
