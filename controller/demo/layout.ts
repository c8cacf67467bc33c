/**
 * The demo directory's fixed layout, so people and scripts can look inside:
 * `fleet.yaml`; `devices/<id>/root/` (each simulated Pi's root) beside its `agent.json` and
 * `record.json` (with `--tor`, also `tor/`, the Pi's own tor, and `tor.pid`); `members/<member>.key`;
 * `bundles/<member>.age`; `controller/` (the controller's state); `tor/` (with `--tor`: the private
 * Tor network); `logs/` (every process's log; tor's own under `logs/tor/`); `demo.json` (what the
 * demo started: the marker of a demo directory, and the pids for whoever checks that they are gone).
 */
import { mkdir, readdir, readFile, rm, stat, symlink } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { InvalidInputError } from '#shared/errors.ts';
import { readRuntime } from '../nats-server/sync.ts';
import { statePaths } from '../state/paths.ts';

/** The paths of a demo directory (absolute). */
export function demoLayout(dir: string) {
  const root = resolve(dir);
  const device = (id: string) => ({
    dir: join(root, 'devices', id),
    root: join(root, 'devices', id, 'root'),
    config: join(root, 'devices', id, 'agent.json'),
    record: join(root, 'devices', id, 'record.json'),
    /** The built-in supervisor's pid files (one per service) below the device's root. */
    runDir: join(root, 'devices', id, 'root', 'run/onionfleet'),
    /** The supervised servers' own logs. */
    serviceLogs: join(root, 'devices', id, 'root', 'var/log/onionfleet'),
    /** With `--tor`: the Pi's own tor (torrc, data/, notice.log) and the pid file its agent signals. */
    tor: join(root, 'devices', id, 'tor'),
    torPid: join(root, 'devices', id, 'tor.pid'),
  });
  return {
    dir: root,
    fleet: join(root, 'fleet.yaml'),
    devices: join(root, 'devices'),
    device,
    members: join(root, 'members'),
    memberKey: (member: string) => join(root, 'members', `${member}.key`),
    bundles: join(root, 'bundles'),
    bundle: (member: string) => join(root, 'bundles', `${member}.age`),
    controller: join(root, 'controller'),
    /** With `--tor`: the private Tor network's authorities and relays. */
    tor: join(root, 'tor'),
    logs: join(root, 'logs'),
    log: (name: string) => join(root, 'logs', `${name}.log`),
    marker: join(root, 'demo.json'),
  } as const;
}
export type DemoLayout = ReturnType<typeof demoLayout>;

/** A link below `logs/` (e.g. `tor/auth1.log`) to a log another process writes at `target` (absolute). */
export interface LogLink {
  readonly link: string;
  readonly target: string;
}

/**
 * Creates `logs/` with links to the logs other processes write elsewhere: `nats-server.log` (in the
 * controller's state, where `serve` keeps it), `<device>-services/` (the servers each agent's
 * supervisor starts, below the device's root), and `extra` (the network's: tor's notice logs). The
 * links may dangle until those processes start.
 */
export async function makeLogsDir(layout: DemoLayout, devices: readonly string[], extra: readonly LogLink[] = []): Promise<void> {
  await mkdir(layout.logs, { recursive: true, mode: 0o700 });
  const links: LogLink[] = [
    { link: 'nats-server.log', target: statePaths(layout.controller).natsLog },
    ...devices.map((id) => ({ link: `${id}-services`, target: layout.device(id).serviceLogs })),
    ...extra,
  ];
  for (const { link, target } of links) {
    const path = join(layout.logs, link);
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    await symlink(relative(dirname(path), target), path);
  }
}

/** The pid of the demo that wrote `demo.json` while it still runs a node process; null otherwise. */
async function demoPid(layout: DemoLayout): Promise<number | null> {
  try {
    const { demoPid: pid } = JSON.parse(await readFile(layout.marker, 'utf8')) as { demoPid?: unknown };
    if (typeof pid !== 'number' || !Number.isInteger(pid) || pid <= 1 || pid === process.pid) return null;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes('demo') ? pid : null;
  } catch {
    return null;
  }
}

/** What a demo writes at the top of its directory (and nothing else there). */
const DEMO_ENTRIES = ['fleet.yaml', 'devices', 'members', 'bundles', 'controller', 'tor', 'logs', 'demo.json'];

/**
 * Makes `layout.dir` ready for a new demo: creates it when missing; an empty directory is used as
 * it is. With `force`, a previous demo's directory is cleared of the demo's own entries, unless that
 * demo still runs.
 *
 * @throws {InvalidInputError} (exit 2, nothing changed) when the directory holds anything else,
 *   is a previous demo's and `force` is not given, or a previous demo there still runs.
 */
export async function prepareDemoDir(layout: DemoLayout, force: boolean): Promise<void> {
  const info = await stat(layout.dir).catch(() => null);
  if (info === null) {
    await mkdir(layout.dir, { recursive: true, mode: 0o700 });
    return;
  }
  if (!info.isDirectory()) throw new InvalidInputError([{ source: '--dir', message: `${layout.dir} is not a directory` }]);
  const entries = await readdir(layout.dir);
  if (entries.length === 0) return;
  const previousDemo = entries.includes('demo.json') && entries.every((e) => DEMO_ENTRIES.includes(e));
  if (!previousDemo) {
    throw new InvalidInputError([{ source: '--dir', message: `${layout.dir} is not empty` }], { hint: 'pass --dir with a new or empty directory (or none: the demo makes a temporary one)' });
  }
  if (!force) {
    throw new InvalidInputError([{ source: '--dir', message: `${layout.dir} holds a previous demo` }], { hint: 'pass --dir with another directory, or add --force to start this one afresh (its files are deleted)' });
  }
  const running = (await demoPid(layout)) ?? (await readRuntime(statePaths(layout.controller)))?.pid ?? null;
  if (running !== null) {
    throw new InvalidInputError([{ source: '--dir', message: `the demo in ${layout.dir} still runs (pid ${running})` }], { hint: 'stop it with Ctrl-C first, or pass --dir with another directory' });
  }
  for (const entry of entries) await rm(join(layout.dir, entry), { recursive: true, force: true });
}
