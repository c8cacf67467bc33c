// TEST DOUBLE of the SimpleX server — not the real thing. `init` of smp-server and xftp-server.
// See simplex-double.mjs for what the double honours. Order as in simplexmq v6.4.5: parse the
// options (errors change nothing) → refuse if the ini exists → (smp without -y) prompt → empty both
// directories → openssl → fingerprint → ini → print.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ExitError, fingerprintOf, parseOptions, printedAddress, serviceInfoLines, validPassword } from './simplex-double.mjs';
import { smpIni, xftpIni } from './simplex-double-ini.mjs';

const SMP_USAGE = 'Usage: smp-server init [-y|--yes] [-n|--fqdn FQDN] [--ip IP] [--password PASSWORD | --no-password]\n' +
  '                       [--disable-web] [--socks-proxy[=IP:PORT]] [-a|--sign-algorithm ALG]\n' +
  '                       [--control-port[=PORT]] [-s|--daily-stats] [--disable-store-log]';
const XFTP_USAGE = 'Usage: xftp-server init -p|--path PATH -q|--quota QUOTA [-n|--fqdn FQDN] [--ip IP]\n' +
  '                        [-a|--sign-algorithm ALG] [-l|--store-log]';

const common = {
  '-n': { key: 'fqdn', arg: 'required' }, '--fqdn': { key: 'fqdn', arg: 'required' },
  '--ip': { key: 'ip', arg: 'required' },
  '-a': { key: 'alg', arg: 'required' }, '--sign-algorithm': { key: 'alg', arg: 'required' },
};
const SMP_SPEC = {
  ...common,
  '-y': { key: 'yes', arg: 'none' }, '--yes': { key: 'yes', arg: 'none' },
  '--password': { key: 'password', arg: 'required' }, '--no-password': { key: 'noPassword', arg: 'none' },
  '--disable-web': { key: 'disableWeb', arg: 'none' },
  '--socks-proxy': { key: 'socksProxy', arg: 'optional' },
  '--control-port': { key: 'controlPort', arg: 'optional' },
  '-s': { key: 'dailyStats', arg: 'none' }, '--daily-stats': { key: 'dailyStats', arg: 'none' },
  '--disable-store-log': { key: 'disableStoreLog', arg: 'none' },
};
const XFTP_SPEC = {
  ...common,
  '-p': { key: 'path', arg: 'required' }, '--path': { key: 'path', arg: 'required' },
  '-q': { key: 'quota', arg: 'required' }, '--quota': { key: 'quota', arg: 'required' },
  '-l': { key: 'storeLog', arg: 'none' }, '--store-log': { key: 'storeLog', arg: 'none' },
};

const usageError = (message, usage) => new ExitError(`${message}\n\n${usage}`, { usage: true });
const randomSecret = () => randomBytes(32).toString('base64url') + '=';

/** `smp-server init` / `xftp-server init`. Returns the exit code; throws ExitError. */
export function init(k, dirs, args) {
  const isSmp = k.scheme === 'smp';
  const usage = isSmp ? SMP_USAGE : XFTP_USAGE;
  if (args.includes('-h') || args.includes('--help')) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  const opts = parseOptions(args, isSmp ? SMP_SPEC : XFTP_SPEC, usage);
  const alg = opts.alg ?? k.defaultAlg;
  if (alg !== 'ED25519' && alg !== 'ED448') throw usageError(`option -a: cannot parse value \`${alg}'`, usage);
  if (isSmp) checkSmpOptions(opts, usage);
  else checkXftpOptions(opts, usage);

  const iniPath = join(dirs.cfg, k.ini);
  if (existsSync(iniPath)) {
    throw new ExitError(`Error: server is already initialized (${iniPath} exists).\nRun \`${k.exe} start\`.`);
  }
  if (isSmp && opts.yes !== true) {
    // The real init prompts even when flags are given; stdin is not answered here.
    process.stdout.write('Use `smp-server init -h` for available options.\nSMP server will be initialized (press Enter)');
    throw new ExitError('\n<stdin>: hGetLine: end of file (the test double never reads answers: pass -y)');
  }

  for (const dir of [dirs.cfg, dirs.log]) clearDir(dir);
  const ip = opts.ip ?? '127.0.0.1';
  const commonName = opts.fqdn ?? ip;
  const host = opts.fqdn ?? (ip === '127.0.0.1' ? '<hostnames>' : ip);
  const fp = createServerX509(dirs.cfg, commonName, alg);

  let password = null;
  let content;
  if (isSmp) {
    password = opts.noPassword === true ? null : (opts.password ?? randomSecret());
    const controlPortPwds = opts.controlPort === undefined ? null : [randomSecret(), randomSecret()];
    content = smpIni({
      cfg: dirs.cfg, log: dirs.log, host, password, controlPortPwds,
      controlPort: typeof opts.controlPort === 'string' ? opts.controlPort : null,
      socksProxy: socksProxyValue(opts.socksProxy),
      enableStoreLog: opts.disableStoreLog !== true, logStats: opts.dailyStats === true, disableWeb: opts.disableWeb === true,
    });
  } else {
    content = xftpIni({ host, path: opts.path, quota: opts.quota, enableStoreLog: opts.storeLog === true });
  }
  writeFileSync(iniPath, content); // follows the umask, like the real init
  const lines = [
    `Server initialized, you can modify configuration in ${iniPath}.`,
    `Run \`${k.exe} start\` to start server.`,
    '----------',
    'You should store CA private key securely and delete it from the server.',
    'If server TLS credential is compromised this key can be used to sign a new one, keeping the same server identity and established connections.',
    'CA private key location:',
    join(dirs.cfg, 'ca.key'),
    '----------',
    ...serviceInfoLines(k, fp, printedAddress(k, fp, password, host, null)),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

function checkSmpOptions(opts, usage) {
  if (opts.password !== undefined && opts.noPassword === true) {
    throw usageError('Invalid option `--no-password\' (give --password or --no-password, not both)', usage);
  }
  if (opts.password !== undefined && !validPassword(opts.password)) {
    throw usageError("option --password: Invalid password. Only printable ASCII characters without whitespace, '@', ':' and '/' are allowed", usage);
  }
  if (typeof opts.socksProxy === 'string' && socksProxyValue(opts.socksProxy) === null) {
    throw usageError(`option --socks-proxy: cannot parse value \`${opts.socksProxy}' (IP:PORT, an IP literal)`, usage);
  }
  if (typeof opts.controlPort === 'string' && !/^\d{1,5}$/.test(opts.controlPort)) {
    throw usageError(`option --control-port: cannot parse value \`${opts.controlPort}'`, usage);
  }
}

function checkXftpOptions(opts, usage) {
  const missing = [];
  if (opts.path === undefined) missing.push('(-p|--path PATH)');
  if (opts.quota === undefined) missing.push('(-q|--quota QUOTA)');
  if (missing.length > 0) throw usageError(`Missing: ${missing.join(' ')}`, usage);
  if (!/^\d+(kb|mb|gb)?$/.test(opts.quota)) {
    throw usageError(`option -q: cannot parse value \`${opts.quota}' (e.g. 20gb, 500mb: lower case)`, usage);
  }
}

/** `--socks-proxy` → the ini value, `127.0.0.1:9050` by default; null when not an IP literal with a port. */
function socksProxyValue(flag) {
  if (flag === undefined) return undefined;
  if (flag === true) return '127.0.0.1:9050';
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})?(?::(\d{1,5}))?$/.exec(flag);
  if (m === null || flag === '') return null;
  return `${m[1] ?? '127.0.0.1'}:${m[2] ?? '9050'}`;
}

/** Empties a directory (the real `clearDirIfExists`), then makes sure it exists. */
function clearDir(dir) {
  if (existsSync(dir)) {
    for (const entry of readdirSync(dir)) rmSync(join(dir, entry), { recursive: true, force: true });
  }
  mkdirSync(dir, { recursive: true });
}

/** The files and openssl commands of simplexmq `createServerX509`. Returns the fingerprint. */
function createServerX509(cfg, commonName, alg) {
  const c = (name) => join(cfg, name);
  writeFileSync(c('openssl_ca.conf'),
    '[req]\ndistinguished_name = req_distinguished_name\nprompt = no\n\n' +
    '[req_distinguished_name]\nCN = SMP server CA\nO = SimpleX\n\n' +
    '[v3]\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid:always\nbasicConstraints = critical,CA:true\n');
  openssl(['genpkey', '-algorithm', alg, '-out', c('ca.key')]);
  openssl(['req', '-new', '-x509', '-days', '999999', '-config', c('openssl_ca.conf'), '-extensions', 'v3',
    '-key', c('ca.key'), '-out', c('ca.crt')]);
  writeFileSync(c('openssl_server.conf'),
    '[req]\ndistinguished_name = req_distinguished_name\nprompt = no\n\n' +
    `[req_distinguished_name]\nCN = ${commonName}\n\n` +
    '[v3]\nbasicConstraints = CA:FALSE\nkeyUsage = digitalSignature, nonRepudiation, keyAgreement\nextendedKeyUsage = serverAuth\n');
  openssl(['genpkey', '-algorithm', alg, '-out', c('server.key')]);
  openssl(['req', '-new', '-config', c('openssl_server.conf'), '-reqexts', 'v3', '-key', c('server.key'),
    '-out', c('server.csr')]);
  openssl(['x509', '-req', '-days', '999999', '-extfile', c('openssl_server.conf'), '-extensions', 'v3',
    '-in', c('server.csr'), '-CA', c('ca.crt'), '-CAkey', c('ca.key'), '-CAcreateserial', '-out', c('server.crt')]);
  for (const key of ['ca.key', 'server.key']) chmodSync(c(key), 0o600);
  const fp = fingerprintOf(readFileSync(c('ca.crt'), 'utf8'));
  writeFileSync(c('fingerprint'), `${fp}\n`);
  return fp;
}

function openssl(args) {
  try {
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const detail = err && typeof err === 'object' && 'stderr' in err ? String(err.stderr) : String(err);
    throw new ExitError(`openssl ${args[0]} failed: ${detail.trim()}`);
  }
}
