/**
 * The SimpleX ini files, read back the way the servers read them (docs/reference/simplex-servers.md): sections,
 * `key: value` with the first `:` or `=` as separator, `#`/`;` comment lines. A render→parse round
 * trip, as a property over instances, pins every value the servers act on.
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { renderSmpIni, renderXftpIni } from '../../../agent/render/index.ts';
import { hardeningFor, type DesiredInstance } from '#shared/schema/desired-state.ts';
import { TIERS } from '#shared/schema/fleet-spec.ts';
import { instance, onionHostname } from '../../builders/desired.ts';
import { runs } from '../../support/runs.ts';

type Ini = Map<string, Map<string, string>>;

/** A strict reading: a key outside a section, a line without separator or a repeated key throws. */
function parseIni(text: string): Ini {
  const ini: Ini = new Map();
  let section: Map<string, string> | null = null;
  for (const [n, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[([A-Z_]+)\]$/.exec(line);
    if (header !== null) {
      if (ini.has(header[1]!)) throw new Error(`line ${n + 1}: section [${header[1]}] twice`);
      section = new Map();
      ini.set(header[1]!, section);
      continue;
    }
    const sep = line.search(/[:=]/);
    if (section === null || sep <= 0) throw new Error(`line ${n + 1}: not a key in a section: ${line}`);
    const key = line.slice(0, sep).trim();
    if (section.has(key)) throw new Error(`line ${n + 1}: key ${key} twice`);
    section.set(key, line.slice(sep + 1).trim());
  }
  return ini;
}

function get(ini: Ini, section: string, key: string): string | undefined {
  return ini.get(section)?.get(key);
}

const HOST = onionHostname('ini-test');
const smp = (i: DesiredInstance, socksPort = 9050) => parseIni(renderSmpIni(i, { host: HOST, socksPort }));
const xftp = (i: DesiredInstance) => parseIni(renderXftpIni(i, { host: HOST, filesDir: '/var/opt/simplex-xftp/x/files' }));

describe('smp-server.ini', () => {
  it('has exactly the sections and keys the server reads, and nothing else live', () => {
    const ini = smp(instance('smp', 1, { tier: 'standard' }));
    const shape = Object.fromEntries([...ini].map(([s, keys]) => [s, [...keys.keys()]]));
    expect(shape).toEqual({
      STORE_LOG: ['enable', 'store_queues', 'store_messages', 'restore_messages', 'expire_messages_days', 'log_stats', 'prometheus_interval'],
      AUTH: ['new_queues', 'create_password'],
      TRANSPORT: ['host', 'port', 'log_tls_errors', 'websockets'],
      PROXY: ['socks_proxy', 'socks_mode'],
      INACTIVE_CLIENTS: ['disconnect', 'ttl', 'check_interval'],
      WEB: [],
    });
  });

  it('keeps statistics below the extreme tier and none at it, where messages expire in 2 days', () => {
    const standard = smp(instance('smp', 1, { tier: 'standard' }));
    expect(get(standard, 'STORE_LOG', 'log_stats')).toBe('on');
    expect(get(standard, 'STORE_LOG', 'expire_messages_days')).toBe('21');
    expect(get(standard, 'STORE_LOG', 'prometheus_interval')).toBe('60');
    const every5 = parseIni(renderSmpIni(instance('smp', 1, { tier: 'high' }), { host: HOST, socksPort: 9050, metricsIntervalSeconds: 5 }));
    expect(get(every5, 'STORE_LOG', 'prometheus_interval')).toBe('5');
    const text = renderSmpIni(instance('smp', 1, { tier: 'extreme' }), { host: HOST, socksPort: 9050 });
    const extreme = parseIni(text);
    expect(get(extreme, 'STORE_LOG', 'log_stats')).toBe('off');
    expect(get(extreme, 'STORE_LOG', 'expire_messages_days')).toBe('2');
    expect(text).not.toContain('prometheus_interval');
    expect(text).not.toMatch(/log_stats: on/);
  });

  it('routes through Tor at an IP literal, with the given SOCKS port', () => {
    const ini = smp(instance('smp', 1), 9150);
    expect(get(ini, 'PROXY', 'socks_proxy')).toBe('127.0.0.1:9150');
    expect(get(ini, 'PROXY', 'socks_proxy')).toMatch(/^\d{1,3}(?:\.\d{1,3}){3}:\d+$/);
    expect(get(ini, 'PROXY', 'socks_mode')).toBe('onion');
  });

  it('listens on exactly one port, the local one, and opens no control port or web server', () => {
    const ini = smp(instance('smp', 3));
    expect(get(ini, 'TRANSPORT', 'port')).toBe('15225');
    expect(get(ini, 'TRANSPORT', 'control_port')).toBeUndefined();
    expect(get(ini, 'AUTH', 'control_port_admin_password')).toBeUndefined();
    expect(ini.get('WEB')?.size).toBe(0);
  });

  it('refuses an XFTP instance', () => {
    expect(() => renderSmpIni(instance('xftp', 1), { host: HOST, socksPort: 9050 })).toThrow(/not smp/);
  });
});

describe('file-server.ini', () => {
  it('has exactly the sections and keys the server reads', () => {
    const ini = xftp(instance('xftp', 1, { quota: '500mb' }));
    const shape = Object.fromEntries([...ini].map(([s, keys]) => [s, [...keys.keys()]]));
    expect(shape).toEqual({
      STORE_LOG: ['enable', 'expire_files_hours', 'log_stats', 'prometheus_interval'],
      AUTH: ['new_files', 'create_password'],
      TRANSPORT: ['host', 'port', 'log_tls_errors'],
      FILES: ['path', 'storage_quota'],
      INACTIVE_CLIENTS: ['disconnect', 'ttl', 'check_interval'],
    });
    expect(get(ini, 'FILES', 'storage_quota')).toBe('500mb');
    expect(get(ini, 'FILES', 'path')).toBe('/var/opt/simplex-xftp/x/files');
  });

  it('keeps no statistics at the extreme tier', () => {
    expect(get(xftp(instance('xftp', 1, { tier: 'extreme' })), 'STORE_LOG', 'log_stats')).toBe('off');
    expect(get(xftp(instance('xftp', 1, { tier: 'extreme' })), 'STORE_LOG', 'prometheus_interval')).toBeUndefined();
    expect(get(xftp(instance('xftp', 1, { tier: 'high' })), 'STORE_LOG', 'log_stats')).toBe('on');
    expect(get(xftp(instance('xftp', 1, { tier: 'high' })), 'STORE_LOG', 'prometheus_interval')).toBe('60');
  });

  it('refuses an SMP instance', () => {
    expect(() => renderXftpIni(instance('smp', 1), { host: HOST, filesDir: '/x' })).toThrow(/not xftp/);
  });
});

/** Passwords the servers accept: printable ASCII without whitespace, "@", ":" or "/". */
const password = fc
  .array(fc.constantFrom(...[...Array(94).keys()].map((k) => String.fromCharCode(33 + k)).filter((c) => !'@:/'.includes(c))), { minLength: 16, maxLength: 64 })
  .map((cs) => cs.join(''));

const anyInstance = fc.record({
  kind: fc.constantFrom('smp' as const, 'xftp' as const),
  n: fc.integer({ min: 1, max: 99 }),
  tier: fc.constantFrom(...TIERS),
  localPort: fc.integer({ min: 1024, max: 65535 }),
  password,
  quota: fc.tuple(fc.integer({ min: 1, max: 999_999 }), fc.constantFrom('gb', 'mb')).map(([q, u]) => `${q}${u}`),
  socksPort: fc.integer({ min: 1, max: 65535 }),
});

describe('render → parse round trip', () => {
  test.prop([anyInstance], { numRuns: runs(200) })('every value the server acts on reads back unchanged', (a) => {
    const i = instance(a.kind, a.n, { tier: a.tier, localPort: a.localPort, password: a.password, ...(a.kind === 'xftp' ? { quota: a.quota } : {}) });
    const h = hardeningFor(a.tier);
    const text = a.kind === 'smp' ? renderSmpIni(i, { host: HOST, socksPort: a.socksPort }) : renderXftpIni(i, { host: HOST, filesDir: '/f' });
    expect(text).toMatch(/^[\x20-\x7e\n]*$/); // 7-bit ASCII: the servers read it with the locale's encoding
    const ini = parseIni(text);
    expect(get(ini, 'AUTH', 'create_password')).toBe(a.password);
    expect(get(ini, 'TRANSPORT', 'host')).toBe(HOST);
    expect(get(ini, 'TRANSPORT', 'port')).toBe(String(a.localPort));
    expect(get(ini, 'STORE_LOG', 'enable')).toBe('on');
    expect(get(ini, 'STORE_LOG', 'log_stats')).toBe(h.noStatistics ? 'off' : 'on');
    expect(get(ini, 'STORE_LOG', 'prometheus_interval')).toBe(h.noStatistics ? undefined : '60');
    expect(get(ini, 'INACTIVE_CLIENTS', 'disconnect')).toBe('on');
    if (a.kind === 'smp') {
      expect(get(ini, 'STORE_LOG', 'expire_messages_days')).toBe(String(h.expireMessagesDays));
      expect(get(ini, 'PROXY', 'socks_proxy')).toBe(`127.0.0.1:${a.socksPort}`);
      expect(get(ini, 'AUTH', 'new_queues')).toBe('on');
    } else {
      expect(get(ini, 'STORE_LOG', 'expire_files_hours')).toBe(String(h.expireFilesHours));
      expect(get(ini, 'FILES', 'storage_quota')).toBe(a.quota);
      expect(get(ini, 'AUTH', 'new_files')).toBe('on');
    }
    for (const section of ini.values()) for (const v of section.values()) expect(v).not.toMatch(/^(?:yes|no|true|false)$/);
  });
});
