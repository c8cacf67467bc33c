/**
 * torrc lines for tor child processes (the controller's tor, the tests' and the demo's), and the
 * parser of tor's control-port file. A private test network's lines live with it, in
 * controller/demo/private-tor/network-torrc.ts. Pure: no I/O.
 */
import { InvalidInputError, type Problem } from '#shared/errors.ts';

/**
 * Options a TorProcess (tor-process.ts) sets itself: where tor keeps its data, how
 * it is controlled and where it logs. A caller's lines must not set them.
 */
export const RESERVED_OPTIONS = [
  'DataDirectory', 'ControlPort', 'ControlPortWriteToFile', 'ControlSocket', 'CookieAuthentication', 'CookieAuthFile',
  'HashedControlPassword', 'SocksPort', 'Log', 'RunAsDaemon', 'PidFile', '__OwningControllerProcess',
] as const;

const RESERVED = new Set<string>(RESERVED_OPTIONS.map((o) => o.toLowerCase()));

/**
 * Checks a caller's torrc lines: one option per line (no line break or NUL, which would smuggle in
 * another option) and none of {@link RESERVED_OPTIONS}. Throws InvalidInputError with one problem per
 * bad line, named `<source>: line N`; a line's text is not echoed (it may name a secret path or key).
 */
export function checkTorrcLines(lines: readonly string[], source: string): void {
  const problems: Problem[] = [];
  lines.forEach((line, i) => {
    const at = { source, path: `line ${i + 1}` };
    if (/[\r\n\0]/.test(line)) {
      problems.push({ ...at, message: 'a torrc line must not contain a line break or NUL' });
      return;
    }
    const option = optionName(line);
    if (option !== null && RESERVED.has(option.toLowerCase())) {
      problems.push({ ...at, message: `${option} is set by the tor process manager; remove it` });
    }
  });
  if (problems.length > 0) throw new InvalidInputError(problems);
}

/** The option a torrc line sets (its first word), or null for a blank line or a comment. */
export function optionName(line: string): string | null {
  const word = /^\s*([^\s#]+)/.exec(line)?.[1];
  return word ?? null;
}

/** Where one tor child process keeps its files (see {@link processLines}). */
export interface ProcessFiles {
  readonly dataDir: string;
  readonly controlPortFile: string;
  readonly noticeLog: string;
}

/**
 * The lines a tor child process always gets: its data directory, a control port on 127.0.0.1 at a
 * port tor picks (`auto`, written to `controlPortFile`: no port race) with cookie authentication,
 * notice logs to the file and to stdout (which the manager reads), and a SOCKS port on 127.0.0.1
 * chosen the same way, with Tor's extended error codes — or none.
 */
export function processLines(files: ProcessFiles, socks: boolean | number): string[] {
  return [
    `DataDirectory ${files.dataDir}`,
    'ControlPort 127.0.0.1:auto',
    `ControlPortWriteToFile ${files.controlPortFile}`,
    'CookieAuthentication 1',
    `Log notice file ${files.noticeLog}`,
    'Log notice stdout',
    socks === false ? 'SocksPort 0' : `SocksPort 127.0.0.1:${socks === true ? 'auto' : socks} ExtendedErrors`,
  ];
}

/** A whole torrc: a header, then each group of lines in order. */
export function renderTorrc(...groups: readonly (readonly string[])[]): string {
  const body = groups.filter((g) => g.length > 0).map((g) => g.join('\n')).join('\n\n');
  return `# Written by onionfleet's tor process manager - changes are overwritten.\n\n${body}\n`;
}

function isPort(n: number): boolean {
  return Number.isInteger(n) && n > 0 && n < 65536;
}

/** The port in a `ControlPortWriteToFile` file (`PORT=127.0.0.1:<port>`), or null while it is incomplete. */
export function parseControlPortFile(text: string): number | null {
  const port = Number(/^PORT=127\.0\.0\.1:(\d+)\s*$/m.exec(text)?.[1]);
  return isPort(port) ? port : null;
}
