/**
 * The one logger of the long-running commands (`onionfleet-agent run`, `onionfleet serve`): pino,
 * with a line per event carrying its time and level and, where they apply, the `device`, `instance`
 * and `step` (child loggers add them). On a terminal the lines are for people (pino-pretty); anywhere
 * else — under systemd, in a file, through a pipe — one JSON object per line, for the journal and for
 * tools. Values under the keys of {@link REDACTED} never reach a line: passwords, passphrases, seeds,
 * keys, addresses. Messages themselves are written to hold none of those (a test greps the logs of
 * whole runs for every secret they handled).
 */
import { Writable } from 'node:stream';
import { pino, type Logger, type LoggerOptions } from 'pino';
import pretty from 'pino-pretty';

export type { Logger } from 'pino';

/** Keys whose values are replaced by "[redacted]" wherever they appear in a log object (two levels deep). */
export const REDACTED = [
  'password', 'passphrase', 'seed', 'natsSeed', 'secret', 'secretKey', 'signingSecretKey', 'privateKey', 'ageIdentity',
  'identity', 'token', 'address', 'onion', 'hostname', 'sshOnion', 'value', 'data', 'sealed',
] as const;

export interface LogOptions {
  /** The program: `onionfleet-agent`, `onionfleet serve`. */
  readonly name: string;
  /** Bindings every line carries (the device id of an agent). */
  readonly base?: Readonly<Record<string, string>>;
  /** `pretty` for people, `json` for machines; `auto` (default): pretty on a terminal, else json. */
  readonly format?: 'auto' | 'pretty' | 'json';
  /** Default: standard error. */
  readonly stream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Default `info`; $ONIONFLEET_LOG_LEVEL overrides it (`debug` for more). */
  readonly level?: string;
}

/** A logger as {@link LogOptions} say. Synchronous writes: a line is out before the process can die. */
export function createLogger(options: LogOptions): Logger {
  const stream = options.stream ?? process.stderr;
  const format = options.format ?? 'auto';
  const human = format === 'pretty' || (format === 'auto' && stream.isTTY === true);
  const settings: LoggerOptions = {
    name: options.name,
    level: process.env.ONIONFLEET_LOG_LEVEL ?? options.level ?? 'info',
    base: { ...(options.base ?? {}) },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACTED.flatMap((k) => [k, `*.${k}`]), censor: '[redacted]' },
  };
  if (human) return pino(settings, pretty({ destination: stream, sync: true, colorize: stream.isTTY === true, translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname,name', singleLine: true }));
  // A process stream by its descriptor (no buffering to lose on a crash); any other stream as it is.
  const fd = (stream as { fd?: unknown }).fd;
  return pino(settings, typeof fd === 'number' ? pino.destination({ dest: fd, sync: true }) : stream);
}

/** A stream that hands each line to `line` (a CLI's Output.err in tests that run a command in process). */
export function lineStream(line: (text: string) => void): NodeJS.WritableStream {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      line(chunk.toString().replace(/\n$/, ''));
      done();
    },
  });
}
