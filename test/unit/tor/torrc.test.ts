/** torrc lines for tor child processes and the private network, and the parsers of tor's output (real samples). */
import { describe, expect, it } from 'vitest';
import {
  authorityLines, dirAuthorityLine, isNickname, parseCertificateFingerprint, parseListFingerprint, relayLines, renderNetworkTorrc, TEST_NETWORK_OPTIONS,
} from '../../../controller/demo/private-tor/network-torrc.ts';
import { checkTorrcLines, optionName, parseControlPortFile, processLines, renderTorrc, RESERVED_OPTIONS } from '../../../controller/tor/torrc.ts';
import { InvalidInputError } from '#shared/errors.ts';

const FILES = { dataDir: '/t/data', controlPortFile: '/t/control-port', noticeLog: '/t/notice.log' };
const AUTH = { nickname: 'auth1', orPort: 5000, dirPort: 5001, v3ident: 'BB27016E17D5AB06818D9C834C9F0152A9BDC935', fingerprint: 'DBA11C1F892D98A9AACCA6BACB56850B63818E00' };

function problemsOf(lines: readonly string[]) {
  try {
    checkTorrcLines(lines, 'svc torrc');
    return [];
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidInputError);
    return (err as InvalidInputError).problems;
  }
}

describe('checkTorrcLines', () => {
  it('accepts ordinary options, blank lines and comments', () => {
    expect(problemsOf(['HiddenServiceDir /var/lib/tor/x', '', '# DataDirectory in a comment', 'ClientOnionAuthDir /a'])).toEqual([]);
  });

  it.each(RESERVED_OPTIONS)('refuses %s, which the process manager sets, in any case', (option) => {
    expect(problemsOf([`${option.toUpperCase()} 1`])).toEqual([{ source: 'svc torrc', path: 'line 1', message: `${option.toUpperCase()} is set by the tor process manager; remove it` }]);
  });

  it('refuses a line break or NUL (a smuggled second option), one problem per line, without echoing the line', () => {
    const problems = problemsOf(['Nickname a', 'Nickname b\nSocksPort 0.0.0.0:9050', 'x\0y', 'Nickname c\rLog debug stdout']);
    expect(problems.map((p) => p.path)).toEqual(['line 2', 'line 3', 'line 4']);
    for (const p of problems) expect(p.message).not.toContain('SocksPort');
  });

  it('reads the option a line sets', () => {
    expect(optionName('  SocksPort 9050')).toBe('SocksPort');
    expect(optionName('# SocksPort')).toBeNull();
    expect(optionName('   ')).toBeNull();
  });
});

describe('processLines', () => {
  it('binds control and SOCKS to 127.0.0.1 at ports tor picks, with cookie auth and extended errors', () => {
    const lines = processLines(FILES, true);
    expect(lines).toEqual(expect.arrayContaining([
      'DataDirectory /t/data', 'ControlPort 127.0.0.1:auto', 'ControlPortWriteToFile /t/control-port', 'CookieAuthentication 1',
      'Log notice file /t/notice.log', 'SocksPort 127.0.0.1:auto ExtendedErrors',
    ]));
    expect(processLines(FILES, false)).toContain('SocksPort 0');
    expect(processLines(FILES, 9150)).toContain('SocksPort 127.0.0.1:9150 ExtendedErrors');
    expect(processLines(FILES, false).join('\n')).not.toContain('auto ExtendedErrors');
  });

  it('sets only options its own check reserves, so caller lines can never override them', () => {
    const reserved = new Set<string>(RESERVED_OPTIONS);
    for (const line of processLines(FILES, true)) expect(reserved.has(optionName(line) ?? '')).toBe(true);
  });
});

describe('renderTorrc', () => {
  it('joins the groups in order, skipping empty ones, with a trailing newline', () => {
    const text = renderTorrc(['A 1'], [], ['B 2', 'C 3']);
    expect(text.endsWith('A 1\n\nB 2\nC 3\n')).toBe(true);
    expect(text.startsWith('# ')).toBe(true);
  });
});

describe('the private network', () => {
  it('writes the DirAuthority line docs/reference/tor.md gives', () => {
    expect(dirAuthorityLine(AUTH)).toBe(`DirAuthority auth1 orport=5000 no-v2 v3ident=${AUTH.v3ident} 127.0.0.1:5001 ${AUTH.fingerprint}`);
  });

  it('refuses a malformed identity', () => {
    expect(() => dirAuthorityLine({ ...AUTH, nickname: 'auth-1' })).toThrow(RangeError);
    expect(() => dirAuthorityLine({ ...AUTH, v3ident: AUTH.v3ident.toLowerCase() })).toThrow(RangeError);
    expect(() => dirAuthorityLine({ ...AUTH, orPort: 70000 })).toThrow(RangeError);
  });

  it('binds every relay explicitly to 127.0.0.1, assumes it reachable, and makes it no exit', () => {
    const lines = relayLines({ nickname: 'relay1', orPort: 'auto', dirPort: 'auto' });
    expect(lines).toEqual(['Nickname relay1', 'ORPort 127.0.0.1:auto', 'DirPort 127.0.0.1:auto', 'Address 127.0.0.1', 'ExitRelay 0', 'AssumeReachable 1']);
    expect(() => relayLines({ nickname: 'relay1', orPort: 0, dirPort: 'auto' })).toThrow(RangeError);
  });

  it('makes authorities relays that also vote, every 20 s', () => {
    const lines = authorityLines({ nickname: 'auth1', orPort: 5000, dirPort: 5001 });
    expect(lines).toEqual(expect.arrayContaining(['ORPort 127.0.0.1:5000', 'DirPort 127.0.0.1:5001', 'AssumeReachable 1', 'V3AuthoritativeDirectory 1', 'V3AuthVotingInterval 20']));
  });

  it('gives every tor the test-network options, and a fragment to include', () => {
    expect(TEST_NETWORK_OPTIONS).toContain('TestingTorNetwork 1');
    expect(TEST_NETWORK_OPTIONS).toContain('TestingDirAuthVoteHSDir *');
    const text = renderNetworkTorrc([...TEST_NETWORK_OPTIONS, dirAuthorityLine(AUTH)]);
    expect(text.split('\n').filter((l) => l !== '' && !l.startsWith('#'))).toEqual([...TEST_NETWORK_OPTIONS, dirAuthorityLine(AUTH)]);
  });

  it('accepts tor nicknames only', () => {
    expect(isNickname('relay12')).toBe(true);
    expect(isNickname('a'.repeat(20))).toBe(false);
    expect(isNickname('')).toBe(false);
  });
});

describe("parsers of tor's output", () => {
  it('reads the fingerprint of `tor --list-fingerprint --quiet`', () => {
    expect(parseListFingerprint('x DBA1 1C1F 892D 98A9 AACC A6BA CB56 850B 6381 8E00\n')).toBe(AUTH.fingerprint);
    expect(parseListFingerprint('some warning\nauth1 DBA1 1C1F 892D 98A9 AACC A6BA CB56 850B 6381 8E00')).toBe(AUTH.fingerprint);
    expect(parseListFingerprint('auth1 DBA1 1C1F')).toBeNull();
    expect(parseListFingerprint('')).toBeNull();
  });

  it("reads the v3 identity of tor-gencert's certificate", () => {
    const certificate = 'dir-key-certificate-version 3\ndir-address 127.0.0.1:5000\nfingerprint BB27016E17D5AB06818D9C834C9F0152A9BDC935\ndir-key-published 2026-11-25 21:53:28\n';
    expect(parseCertificateFingerprint(certificate)).toBe(AUTH.v3ident);
    expect(parseCertificateFingerprint('dir-key-certificate-version 3\n')).toBeNull();
  });

  it('reads the port of ControlPortWriteToFile, and nothing from an incomplete file', () => {
    expect(parseControlPortFile('PORT=127.0.0.1:40005\n')).toBe(40005);
    expect(parseControlPortFile('PORT=127.0.0.1:')).toBeNull();
    expect(parseControlPortFile('')).toBeNull();
    expect(parseControlPortFile('PORT=0.0.0.0:40005\n')).toBeNull();
  });
});
