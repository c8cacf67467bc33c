/**
 * The member's trusted fleets, like known_hosts: a known fleet's key passes, a new fleet is first
 * use, a changed key is refused naming what was trusted; the old single pin counts until a fleet
 * holds its key; the file renders to what it parses back, and bad lines are named.
 */
import { describe, expect, it } from 'vitest';
import { generateSigningKey, keyFingerprint } from '#shared/crypto/sign.ts';
import { sshFingerprint, sshPublicKey } from '#shared/crypto/sshsig.ts';
import { decideTrust, parseTrustedSigners, pinNames, renderTrustedSigners, withTrusted } from '../../../controller/bundle/trusted-signers.ts';

const A = generateSigningKey().publicKey;
const B = generateSigningKey().publicKey;
const C = generateSigningKey().publicKey;
const trusted = [{ fleet: 'newsroom', key: A }, { fleet: 'family', key: B }];

describe('decideTrust', () => {
  it('known, first use, changed', () => {
    expect(decideTrust(trusted, null, 'newsroom', A)).toEqual({ kind: 'known' });
    expect(decideTrust(trusted, null, 'family', B)).toEqual({ kind: 'known' });
    expect(decideTrust(trusted, null, 'choir', C)).toEqual({ kind: 'first-use' });
    expect(decideTrust(trusted, null, 'choir', A)).toEqual({ kind: 'first-use' }); // one admin, two fleets
    expect(decideTrust(trusted, null, 'newsroom', C)).toEqual({ kind: 'changed', trusted: [A] });
    expect(decideTrust(trusted, null, 'newsroom', B)).toEqual({ kind: 'changed', trusted: [A] });
  });

  it('the old pin (a key or either fingerprint) counts until a trusted fleet holds its key', () => {
    for (const pin of [A, keyFingerprint(A), sshFingerprint(A)]) {
      expect(decideTrust([], pin, 'newsroom', A)).toEqual({ kind: 'carried-over' });
      expect(decideTrust([], pin, 'family', B)).toEqual({ kind: 'old-pin-differs', pinned: pin });
      expect(decideTrust([{ fleet: 'newsroom', key: A }], pin, 'family', B)).toEqual({ kind: 'first-use' });
    }
    expect(pinNames(A, B)).toBe(false);
  });

  it('withTrusted replaces the fleet\'s key and keeps the others', () => {
    expect(withTrusted(trusted, 'newsroom', C)).toEqual([{ fleet: 'family', key: B }, { fleet: 'newsroom', key: C }]);
  });
});

describe('the allowed_signers file', () => {
  it('renders to what it parses back, sorted, each line under its fingerprint', () => {
    const text = renderTrustedSigners(trusted);
    expect(parseTrustedSigners(text, 'f')).toEqual({ signers: [{ fleet: 'family', key: B }, { fleet: 'newsroom', key: A }], problems: [] });
    expect(text).toContain(`# fleet newsroom: ${sshFingerprint(A)}\nnewsroom namespaces="onionfleet-bundle" ${sshPublicKey(A)}\n`);
  });

  it('reads lines written by hand: several fleets, no namespaces, a comment; skips other namespaces', () => {
    const text = [`a,b ${sshPublicKey(A)} admin`, `c namespaces="git,onionfleet-bundle" ${sshPublicKey(B)}`, `d namespaces="git" ${sshPublicKey(C)}`, '  # note', ''].join('\n');
    expect(parseTrustedSigners(text, 'f')).toEqual({ signers: [{ fleet: 'a', key: A }, { fleet: 'b', key: A }, { fleet: 'c', key: B }], problems: [] });
  });

  it('names each line it cannot use', () => {
    const text = ['x ssh-rsa AAAAB3NzaC1yc2E', `Bad_Name ${sshPublicKey(A)}`, `y ${sshPublicKey(A).slice(0, -4)}`, 'just words'].join('\n');
    expect(parseTrustedSigners(text, 'f').problems.map((p) => [p.line, p.message])).toEqual([
      [1, 'expected `<fleet> namespaces="onionfleet-bundle" ssh-ed25519 AAAA…`'],
      [2, '"Bad_Name" is not a fleet name (lowercase letters, digits, -)'],
      [3, 'not a valid ssh-ed25519 key'],
      [4, 'expected `<fleet> namespaces="onionfleet-bundle" ssh-ed25519 AAAA…`'],
    ]);
  });
});
