// TEST DOUBLE of the SimpleX server — not the real thing. `start` of smp-server and xftp-server.
//
// Order as in simplexmq v6.4.5: the ini must exist → the saved fingerprint must match ca.crt →
// the configuration must read (strict keys, on/off values, IP-literal socks_proxy, [WEB] files) →
// print the three lines → load server.key/server.crt → listen on every [TRANSPORT] port (all
// interfaces) → "Serving …". Each TLS connection gets the hello (SMP: at once; XFTP: as the
// response to an HTTP/2 `POST /` with an empty body). SIGINT closes and exits 0; SIGTERM is left
// to its default action (the process dies, as the real one may lose undelivered messages).
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import { join } from 'node:path';
import tls from 'node:tls';
import {
  ExitError, fingerprintOf, iniGet, parseIni, parseOptions, pemCertificates, printedAddress, readRequired,
  serviceInfoLines, validPassword,
} from './simplex-double.mjs';
import { helloBlock, LEGACY_VERSIONS, VERSIONS } from './simplex-double-hello.mjs';
import { metricsInterval, startMetricsWriter } from './simplex-double-metrics.mjs';
import { QueueStore, serveStoreCommands } from './simplex-double-store.mjs';
import { FileStore } from './simplex-double-files.mjs';

const START_SPEC = {
  '-m': { key: 'maintenance', arg: 'none' }, '--maintenance': { key: 'maintenance', arg: 'none' },
  '--compact-log': { key: 'compactLog', arg: 'none' }, '--skip-warnings': { key: 'skipWarnings', arg: 'none' },
  '--log-level': { key: 'logLevel', arg: 'required' }, '--confirm-migrations': { key: 'confirm', arg: 'required' },
};
const ON_OFF = {
  smp: [['STORE_LOG', 'enable'], ['STORE_LOG', 'restore_messages'], ['STORE_LOG', 'log_stats'],
    ['STORE_LOG', 'expire_messages_on_start'], ['STORE_LOG', 'expire_messages_on_send'], ['AUTH', 'new_queues'],
    ['TRANSPORT', 'log_tls_errors'], ['PROXY', 'required_host_mode'], ['INACTIVE_CLIENTS', 'disconnect']],
  xftp: [['STORE_LOG', 'enable'], ['STORE_LOG', 'log_stats'], ['AUTH', 'new_files'], ['TRANSPORT', 'log_tls_errors'],
    ['INACTIVE_CLIENTS', 'disconnect']],
};

/** `start`. Resolves once listening (the process then lives on its servers); throws ExitError. */
export async function start(k, dirs, args) {
  const opts = parseOptions(args, START_SPEC, `Usage: ${k.exe} start [-m|--maintenance] [--skip-warnings]`);
  const iniPath = join(dirs.cfg, k.ini);
  if (!existsSync(iniPath)) {
    throw new ExitError(`Error: server is not initialized (${iniPath} does not exist).\nRun \`${k.exe} init\`.`);
  }
  const iniText = readFileSync(iniPath, 'utf8');
  const ini = parseIni(iniText, iniPath);
  const fault = injectedFault(process.env.SIMPLEX_DOUBLE_FAULT, iniText);
  if (fault === 'refuse-start') throw new ExitError(`Error: refusing to start (fault injected by SIMPLEX_DOUBLE_FAULT)`);
  const saved = readRequired(dirs.cfg, 'fingerprint').split('\n')[0];
  const caPem = readRequired(dirs.cfg, 'ca.crt');
  const fp = fingerprintOf(caPem);
  if (saved !== fp) throw new ExitError('Stored fingerprint is invalid.');
  const cfg = readConfig(k, ini);

  const host = iniGet(ini, 'TRANSPORT', 'host') ?? '<hostnames>';
  const info = serviceInfoLines(k, fp, printedAddress(k, fp, cfg.password, host, cfg.portText));
  process.stdout.write(`${info.join('\n')}\n`);

  const serverPem = readRequired(dirs.cfg, 'server.crt');
  const keyPem = readRequired(dirs.cfg, 'server.key');
  const logFile = join(dirs.log, `${k.logName}.log`);
  mkdirSync(dirs.log, { recursive: true });
  const log = (line) => appendFileSync(logFile, `${new Date().toISOString()} ${line}\n`);
  let queues = null;
  let files = null;
  if (cfg.storeLog) {
    const storeLog = join(dirs.log, `${k.logName}-store.log`);
    // The records are read back and compacted: SMP queues (simplex-double-store.mjs), XFTP files
    // (simplex-double-files.mjs, which also expires files older than expire_files_hours).
    if (k.scheme === 'smp') queues = QueueStore.open(dirs.log);
    else files = FileStore.open(dirs.log, cfg.filesPath, cfg.expireFilesHours);
    process.stdout.write(`Store log: ${storeLog}\n`);
  } else {
    process.stdout.write('Store log disabled.\n');
  }
  if (cfg.filesPath !== null && files === null) files = FileStore.open(null, cfg.filesPath, cfg.expireFilesHours);
  if (opts.maintenance === true) {
    process.stdout.write('Server started in \'maintenance\' mode, exiting\n');
    return 0;
  }

  const chain = [serverPem, caPem].flatMap(pemCertificates).map((pem) => new X509Certificate(pem).raw);
  const serverKey = createPrivateKey(keyPem);
  const context = {
    tls: {
      key: keyPem, cert: [serverPem, caPem].flatMap(pemCertificates).join(''),
      minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3', ALPNProtocols: [k.alpn],
      ciphers: 'TLS_CHACHA20_POLY1305_SHA256:ECDHE-ECDSA-CHACHA20-POLY1305', ecdhCurve: 'X25519:X448',
    },
    hello: (socket, versions) => helloBlock({ sessionId: socket.getPeerFinished() ?? Buffer.alloc(0), versions, chain, serverKey }),
    failHello: fault === 'fail-hello',
    log,
    sockets: new Set(),
    /** Per port: TLS connections accepted, closed, open now, hellos sent (the metrics file's values). */
    counts: { ports: Object.fromEntries(cfg.ports.map((p) => [p, { accepted: 0, closed: 0, active: 0, hellos: 0 }])) },
    queues: queues ?? (k.scheme === 'smp' ? QueueStore.open(null) : null),
    files,
  };
  const servers = [];
  try {
    for (const port of cfg.ports) servers.push(await listen(k, context, port));
  } catch (err) {
    for (const s of servers) s.close();
    throw new ExitError(`Error: cannot listen: ${err instanceof Error ? err.message : String(err)}`);
  }
  for (const port of cfg.ports) {
    process.stdout.write(k.scheme === 'smp' ? `Serving SMP protocol on port ${port} (TLS)...\n` : `Listening on port ${port}...\n`);
  }
  // No secrets in the log: the fingerprint is public, the password is only counted as present.
  log(`started ${k.exe} v6.4.5.1 (test double) fingerprint=${fp} ports=${cfg.ports.join(',')} password=${cfg.password === null ? 'none' : 'set'}${context.queues === null ? '' : ` queues=${context.queues.queues.size} skipped=${context.queues.skipped}`}${files === null ? '' : ` files=${files.files.size} skipped=${files.skipped} expired=${files.expired}`}`);
  const metrics = cfg.prometheusInterval === null ? null : startMetricsWriter(k, dirs, cfg.prometheusInterval, context.counts);
  // XFTP: expiry again every 2 hours while running (simplexmq defaultFileExpiration checkInterval).
  if (files !== null) setInterval(() => files.expire(cfg.expireFilesHours), 2 * 3600 * 1000).unref();
  process.once('SIGINT', () => {
    metrics?.stop();
    stop(k, dirs, cfg, servers, context);
  });
  return undefined;
}

/**
 * Fault injection for tests and drills (not a behaviour of the real server): SIMPLEX_DOUBLE_FAULT
 * is `refuse-start` or `fail-hello`, optionally followed by `:MARKER` — then only a server whose ini
 * contains MARKER (say `storage_quota: 13gb`) is affected, so one config change can be made to fail.
 * `refuse-start` exits 1 before listening; `fail-hello` listens and completes TLS but closes every
 * connection without the server hello (probes fail while the process stays up).
 */
function injectedFault(spec, iniText) {
  if (spec === undefined || spec === '') return null;
  const colon = spec.indexOf(':');
  const kind = colon < 0 ? spec : spec.slice(0, colon);
  const marker = colon < 0 ? '' : spec.slice(colon + 1);
  if (kind !== 'refuse-start' && kind !== 'fail-hello') throw new ExitError(`SIMPLEX_DOUBLE_FAULT: unknown fault "${kind}" (refuse-start, fail-hello)`);
  return iniText.includes(marker) ? kind : null;
}

/** The configuration the double uses, validated like the real server reads it. */
function readConfig(k, ini) {
  const strict = (section, key) => {
    const v = iniGet(ini, section, key);
    if (v === undefined) throw new ExitError(`${k.exe}: no key ${key} in section ${section}`);
    return v;
  };
  for (const [section, key] of ON_OFF[k.scheme]) {
    const v = iniGet(ini, section, key);
    if (v !== undefined && v !== 'on' && v !== 'off') throw new ExitError(`${k.exe}: invalid INI setting ${key}: ${v}`);
  }
  const portText = strict('TRANSPORT', 'port');
  const ports = portText.split(',').map((p) => p.trim());
  if (ports.some((p) => !/^\d{1,5}$/.test(p) || Number(p) > 65535)) throw new ExitError(`${k.exe}: invalid port: ${portText}`);
  const password = iniGet(ini, 'AUTH', 'create_password') ?? null;
  if (password !== null && !validPassword(password)) throw new ExitError(`${k.exe}: invalid create_password`);
  if (iniGet(ini, 'INACTIVE_CLIENTS', 'disconnect') === 'on') {
    for (const key of ['ttl', 'check_interval']) {
      if (!/^\d+$/.test(strict('INACTIVE_CLIENTS', key))) throw new ExitError(`${k.exe}: Prelude.read: no parse (INACTIVE_CLIENTS ${key})`);
    }
  }
  const storeLog = (k.scheme === 'smp' ? strict('STORE_LOG', 'enable') : iniGet(ini, 'STORE_LOG', 'enable')) === 'on';
  if (k.scheme === 'smp') {
    if (strict('TRANSPORT', 'websockets') !== 'off') throw new ExitError(`${k.exe}: the test double does not model websockets (websockets: off)`);
    const socks = iniGet(ini, 'PROXY', 'socks_proxy');
    if (socks !== undefined && !/^\d{1,3}(\.\d{1,3}){3}:\d{1,5}$/.test(socks)) {
      throw new ExitError(`${k.exe}: Error parsing socks_proxy: ${socks} (an IP literal with a port is required)`);
    }
    const mode = iniGet(ini, 'PROXY', 'socks_mode');
    if (mode !== undefined && mode !== 'onion' && mode !== 'always') throw new ExitError(`${k.exe}: Invalid socks_mode: ${mode}`);
    // The embedded HTTPS server needs its cert and key; init never creates them (use --disable-web).
    if (iniGet(ini, 'WEB', 'https') !== undefined) {
      for (const key of ['cert', 'key']) {
        const path = strict('WEB', key);
        if (!existsSync(path)) throw new ExitError(`${path}: openFile: does not exist (No such file or directory)`);
      }
    }
  }
  let filesPath = null;
  let expireFilesHours = 48;
  if (k.scheme === 'xftp') {
    filesPath = strict('FILES', 'path');
    const hours = iniGet(ini, 'STORE_LOG', 'expire_files_hours');
    if (hours !== undefined && !/^\d{1,6}$/.test(hours)) throw new ExitError(`${k.exe}: Prelude.read: no parse (STORE_LOG expire_files_hours)`);
    if (hours !== undefined) expireFilesHours = Number(hours);
    const quota = iniGet(ini, 'FILES', 'storage_quota');
    if (quota !== undefined && !/^\d+(kb|mb|gb)?$/.test(quota)) throw new ExitError(`${k.exe}: invalid storage_quota: ${quota}`);
  }
  const restore = iniGet(ini, 'STORE_LOG', 'restore_messages');
  const prometheusInterval = metricsInterval(iniGet(ini, 'STORE_LOG', 'prometheus_interval'));
  if (prometheusInterval !== null && typeof prometheusInterval === 'object') throw new ExitError(`${k.exe}: ${prometheusInterval.error}`);
  return { portText, ports, password, storeLog, storeMessages: restore === undefined ? storeLog : restore === 'on', filesPath, expireFilesHours, prometheusInterval };
}

/** One TLS listener on all interfaces; resolves when listening, rejects on a bind error. */
function listen(k, context, port) {
  const server = tls.createServer(context.tls);
  const h2 = k.scheme === 'xftp' ? xftpHttp2(context) : null;
  server.on('secureConnection', (socket) => {
    context.sockets.add(socket);
    const count = context.counts.ports[port];
    count.accepted++;
    count.active++;
    socket.on('close', () => {
      context.sockets.delete(socket);
      count.active--;
      count.closed++;
    });
    socket.on('error', () => undefined);
    socket.setTimeout(120_000, () => socket.destroy()); // the real smpHandshakeTimeout
    const sni = socket.servername === false || socket.servername === undefined ? 'none' : 'sent';
    context.log(`connection port=${port} tls=${socket.getProtocol()} alpn=${socket.alpnProtocol || 'none'} sni=${sni}`);
    if (context.failHello) {
      socket.destroy(); // fault injected: TLS completes, no hello ever comes
      return;
    }
    if (h2 !== null) {
      // The double serves XFTP only to clients that negotiated xftp/1 (the real one has a legacy fallback).
      if (socket.alpnProtocol === k.alpn) h2.emit('connection', socket);
      else socket.destroy();
      return;
    }
    socket.write(context.hello(socket, socket.alpnProtocol === k.alpn ? VERSIONS : LEGACY_VERSIONS));
    count.hellos++;
    // The client handshake is not modelled; the double's own `DOUBLE …` lines reach the queue store.
    serveStoreCommands(socket, context.queues);
  });
  server.on('tlsClientError', (err) => context.log(`tls error: ${err.message}`));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(port), () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

/** HTTP/2 over the xftp/1 TLS sockets: `POST /` with an empty body gets the hello. */
function xftpHttp2(context) {
  const h2 = http2.createServer();
  h2.on('sessionError', () => undefined);
  h2.on('stream', (stream, headers) => {
    stream.on('error', () => undefined);
    const chunks = [];
    stream.on('data', (c) => chunks.push(c));
    stream.on('end', () => {
      if (headers[':method'] !== 'POST' || headers[':path'] !== '/') {
        stream.respond({ ':status': 404 });
        stream.end();
      } else if (Buffer.concat(chunks).length === 0) {
        stream.respond({ ':status': 200 });
        stream.end(context.hello(stream.session.socket, VERSIONS));
      } else if (context.files !== null && Buffer.concat(chunks).length <= 4096 && Buffer.concat(chunks).toString('latin1').startsWith('DOUBLE ')) {
        // The double's own file commands (simplex-double-files.mjs): one answer line per line.
        const lines = Buffer.concat(chunks).toString('latin1').split('\n').filter((l) => l.trim() !== '');
        stream.respond({ ':status': 200 });
        stream.end(lines.map((l) => `${context.files.answer(l) ?? 'ERR'}\n`).join(''));
      } else {
        stream.respond({ ':status': 501 }); // commands after the hello are not modelled
        stream.end();
      }
    });
  });
  return h2;
}

function stop(k, dirs, cfg, servers, context) {
  for (const s of servers) s.close();
  for (const socket of context.sockets) socket.destroy();
  if (k.scheme === 'smp' && cfg.storeMessages) writeFileSync(join(dirs.log, 'smp-server-messages.log'), '');
  context.log('stopped on SIGINT');
  const line = k.scheme === 'smp' ? 'Server stopped, saving messages' : 'Server stopped';
  process.stdout.write(`${line}\n`, () => process.exit(0));
}
