// TEST DOUBLE of the SimpleX server — not the real thing.
//
// Shared implementation of test/doubles/smp-server and test/doubles/xftp-server. Plain ESM
// JavaScript on node built-ins and the `openssl` CLI only (no TypeScript loader, no npm package),
// so it runs wherever the agent would run the real binaries.
//
// It honours the contract in docs/reference/simplex-servers.md (simplexmq v6.4.5 / 6.4.5.1):
//   - config/log directories from SMP_SERVER_CFG_PATH / SMP_SERVER_LOG_PATH (XFTP_SERVER_…),
//     empty or unset = the default (/etc/opt/simplex, /var/opt/simplex; xftp: …/simplex-xftp);
//   - `-v`, `init` (flags, prompt without -y, refusal to re-init, emptying both directories, the
//     openssl-made certificate files, `fingerprint`, the ini as v6.4.5 writes it, the three lines);
//   - `start` (ini parsing, fingerprint check, required files and keys, TLS 1.2–1.3 with the chain
//     [server.crt, ca.crt], ALPN smp/1 | xftp/1, the 16384-byte server hello; XFTP over HTTP/2);
//   - SIGINT stops cleanly (exit 0); SIGTERM kills, as the real one may lose messages then.
//   - `[STORE_LOG] prometheus_interval: N`: the metrics file rewritten in place every N seconds, with
//     the real metric names (simplex-double-metrics.mjs; values are the double's own socket counts).
// SMP queues: only their store log (simplex-double-store.mjs), with test-only `DOUBLE …` lines.
// XFTP files: stored in the [FILES] path with their store log, expired on start
// (simplex-double-files.mjs), with test-only `DOUBLE …` lines in an HTTP/2 POST.
// It does NOT model: messages, file transfer commands, client handshakes beyond the server hello,
// the control port, `cert`, `delete`, `database`, `journal`.
// Fault injection for tests and drills: SIMPLEX_DOUBLE_FAULT=refuse-start|fail-hello[:MARKER]
// (simplex-double-start.mjs, injectedFault).
// Implementation is split in simplex-double-init.mjs, simplex-double-start.mjs, simplex-double-metrics.mjs,
// simplex-double-store.mjs, simplex-double-files.mjs.
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const VERSION = '6.4.5.1';
/** A fake commit: seven hex digits, like the real `take 7 simplexmqCommit`. */
export const COMMIT = 'd0b1e00';

/** What differs between the two servers. */
export const KINDS = {
  smp: {
    exe: 'smp-server', title: 'SMP server', scheme: 'smp', alpn: 'smp/1',
    cfgEnv: 'SMP_SERVER_CFG_PATH', logEnv: 'SMP_SERVER_LOG_PATH',
    cfgDefault: '/etc/opt/simplex', logDefault: '/var/opt/simplex',
    ini: 'smp-server.ini', defaultPort: '5223', defaultAlg: 'ED25519', logName: 'smp-server',
  },
  xftp: {
    exe: 'xftp-server', title: 'SimpleX XFTP server', scheme: 'xftp', alpn: 'xftp/1',
    cfgEnv: 'XFTP_SERVER_CFG_PATH', logEnv: 'XFTP_SERVER_LOG_PATH',
    cfgDefault: '/etc/opt/simplex-xftp', logDefault: '/var/opt/simplex-xftp',
    ini: 'file-server.ini', defaultPort: '443', defaultAlg: 'ED448', logName: 'file-server',
  },
};

/**
 * Thrown to end the process with a message and exit 1: on stdout like the real `exitError`
 * (putStrLn), or on stderr like optparse's usage errors (`usage: true`).
 */
export class ExitError extends Error {
  constructor(message, { usage = false } = {}) {
    super(message);
    this.exitCode = 1;
    this.usage = usage;
  }
}

export const versionLine = (k) => `${k.title} v${VERSION} / ${COMMIT}`;

/** Printable ASCII without whitespace, '@', ':' or '/' (simplexmq BasicAuth). */
export const validPassword = (pw) => /^[\x21-\x7e]+$/.test(pw) && !/[@:/]/.test(pw);

/** SHA-256 of the DER of the first certificate in `pem`, base64url with '=' padding (44 chars). */
export function fingerprintOf(pem) {
  return createHash('sha256').update(new X509Certificate(pem).raw).digest('base64url') + '=';
}

/** The PEM blocks of certificates in a file, in order. */
export function pemCertificates(text) {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];
}

/** `smp://fp[:pw]@host[:port]` as the real server prints it (the port text raw, as in the ini). */
export function printedAddress(k, fp, password, host, port) {
  const auth = password ? `:${password}` : '';
  const portPart = port && port !== k.defaultPort ? `:${port}` : '';
  return `${k.scheme}://${fp}${auth}@${host}${portPart}`;
}

export function serviceInfoLines(k, fp, address) {
  return [versionLine(k), `Fingerprint: ${fp}`, `Server address: ${address}`];
}

/** Config and log directories from the environment; empty or unset means the default. */
export function dirsFromEnv(k, env) {
  const cfg = env[k.cfgEnv];
  const log = env[k.logEnv];
  return {
    cfg: cfg === undefined || cfg === '' ? k.cfgDefault : cfg,
    log: log === undefined || log === '' ? k.logDefault : log,
  };
}

/**
 * Parses an ini file as the `ini` Haskell package does: `[SECTION]` headers, `key: value` or
 * `key = value` (the first separator on the line wins), `#` and `;` start comment lines.
 * Returns Map(section → Map(key → value)). Throws ExitError on a line it cannot read.
 */
export function parseIni(text, file) {
  const sections = new Map();
  let current = null;
  text.split(/\r?\n/).forEach((line, i) => {
    const t = line.trim();
    if (t === '' || t.startsWith('#') || t.startsWith(';')) return;
    const header = /^\[([^\]]+)\]$/.exec(t);
    if (header) {
      current = new Map();
      sections.set(header[1].trim(), current);
      return;
    }
    const sep = t.search(/[:=]/);
    if (sep <= 0 || current === null) throw new ExitError(`${file}:${i + 1}: Failed reading: ini line`);
    current.set(t.slice(0, sep).trim(), t.slice(sep + 1).trim());
  });
  return sections;
}

export const iniGet = (ini, section, key) => ini.get(section)?.get(key);

/** Reads a file that must exist, with the real server's error text when it does not. */
export function readRequired(dir, name) {
  const path = join(dir, name);
  try {
    return readFileSync(path, 'utf8');
  } catch {
    throw new ExitError(`${path}: openFile: does not exist (No such file or directory)`);
  }
}

/**
 * Splits argv after the command into options by spec: `{ '--fqdn': { key, arg }, '-n': … }` with
 * arg 'none' | 'required' | 'optional' (optional takes a value only as `--opt=value`).
 * Throws ExitError (optparse exits 1) on an unknown option or a missing value.
 */
export function parseOptions(args, spec, usage) {
  const opts = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const eq = a.startsWith('--') ? a.indexOf('=') : -1;
    const name = eq > 0 ? a.slice(0, eq) : a;
    const o = spec[name];
    if (!o) throw new ExitError(`Invalid option \`${a}'\n\n${usage}`, { usage: true });
    if (o.arg === 'none') {
      if (eq > 0) throw new ExitError(`Invalid option \`${a}'\n\n${usage}`, { usage: true });
      opts[o.key] = true;
    } else if (eq > 0) {
      opts[o.key] = a.slice(eq + 1);
    } else if (o.arg === 'optional') {
      opts[o.key] = true;
    } else {
      if (i + 1 >= args.length) throw new ExitError(`The option \`${name}' expects an argument.\n\n${usage}`, { usage: true });
      opts[o.key] = args[++i];
    }
  }
  return opts;
}

/** Entry point of both executables. Resolves to the exit code, or never for a running `start`. */
export async function main(kindName, argv, env = process.env) {
  const k = KINDS[kindName];
  const [command, ...rest] = argv;
  try {
    if (command === '-v' || command === '--version') {
      process.stdout.write(`${versionLine(k)}\n`);
      return 0;
    }
    if (command === undefined || command === '-h' || command === '--help') {
      process.stdout.write(`${versionLine(k)}\n\nUsage: ${k.exe} COMMAND\n  init   initialize server\n  start  start server\n`);
      return command === undefined ? 1 : 0;
    }
    const dirs = dirsFromEnv(k, env);
    if (command === 'init') {
      const { init } = await import('./simplex-double-init.mjs');
      return init(k, dirs, rest);
    }
    if (command === 'start') {
      const { start } = await import('./simplex-double-start.mjs');
      return await start(k, dirs, rest);
    }
    throw new ExitError(`Invalid argument \`${command}' (the test double models only init and start)`);
  } catch (err) {
    if (err instanceof ExitError) {
      (err.usage ? process.stderr : process.stdout).write(`${err.message}\n`);
      return err.exitCode;
    }
    throw err;
  }
}

/** Runs main() and sets the exit code, without cutting off a running server. */
export function run(kindName) {
  main(kindName, process.argv.slice(2)).then(
    (code) => {
      if (code !== undefined) process.exitCode = code;
    },
    (err) => {
      process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
