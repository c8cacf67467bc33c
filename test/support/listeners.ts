/**
 * The TCP sockets a process listens on, from /proc (what `ss -ltnp` shows, without parsing its
 * output): /proc/net/tcp{,6} rows in state LISTEN, matched to the process by socket inode.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** One listening socket: `127.0.0.1:9050`, `0.0.0.0:9050`, `[::]:9050`… */
export interface Listener {
  readonly family: 4 | 6;
  readonly address: string;
  readonly port: number;
}

const LISTEN = '0A';

/** The listening TCP sockets of `pid` (empty when it has none or is gone). */
export function listenersOf(pid: number): Listener[] {
  const inodes = new Set<string>();
  let fds: string[] = [];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return [];
  }
  for (const fd of fds) {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      if (inode !== undefined) inodes.add(inode);
    } catch {
      // the descriptor closed meanwhile
    }
  }
  const out: Listener[] = [];
  for (const family of [4, 6] as const) {
    const rows = readFileSync(family === 4 ? '/proc/net/tcp' : '/proc/net/tcp6', 'utf8').trim().split('\n').slice(1);
    for (const row of rows) {
      const cols = row.trim().split(/\s+/);
      const [local, state, inode] = [cols[1], cols[3], cols[9]];
      if (state !== LISTEN || local === undefined || inode === undefined || !inodes.has(inode)) continue;
      const [hexAddress = '', hexPort = '0'] = local.split(':');
      out.push({ family, address: family === 4 ? ipv4(hexAddress) : `[${ipv6(hexAddress)}]`, port: parseInt(hexPort, 16) });
    }
  }
  return out;
}

/** /proc writes an IPv4 address as one little-endian 32-bit word in hex. */
function ipv4(hex: string): string {
  return [6, 4, 2, 0].map((i) => parseInt(hex.slice(i, i + 2), 16)).join('.');
}

/** /proc writes an IPv6 address as four little-endian 32-bit words; shown here as 8 hex groups. */
function ipv6(hex: string): string {
  const bytes: string[] = [];
  for (let w = 0; w < 4; w += 1) {
    const word = hex.slice(w * 8, w * 8 + 8);
    for (const i of [6, 4, 2, 0]) bytes.push(word.slice(i, i + 2));
  }
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(parseInt(`${bytes[i] ?? '00'}${bytes[i + 1] ?? '00'}`, 16).toString(16));
  return groups.join(':');
}

/** The pids of running processes whose command line contains `needle` (e.g. a temp dir), for leak checks. */
export function pidsWithCommandLine(needle: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const zombie = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
      if (!zombie && cmdline.includes(needle)) pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}
