/**
 * The executors: one per step action (an exhaustive record, so a new action cannot be forgotten).
 * Every file is written atomically; the agent's record is updated right after the step it
 * describes, so a crash between two steps is repaired by the next round.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { onionKeysFromSeed } from '#shared/crypto/onion.ts';
import { OperationFailedError } from '#shared/errors.ts';
import { writeFileAtomic } from '#shared/fs/atomic-write.ts';
import type { InstanceKind } from '#shared/schema/desired-state.ts';
import { identityProblems } from '#shared/crypto/identity-check.ts';
import { installPinnedBinary } from '../binaries/download.ts';
import { stagedLog } from '../restore/staging.ts';
import { writeIdentity } from '../backup/identity-files.ts';
import { writeRecord, type AgentRecord } from '../record.ts';
import { PUBLIC_MODE } from '../render/index.ts';
import { PATHS } from '../render/paths.ts';
import type { ServiceManager, ServiceSpec } from '../services/service-manager.ts';
import type { Owners } from '../owners.ts';
import type { SystemActions } from '../system.ts';
import type { Executors } from './steps.ts';

const run = promisify(execFile);

export interface ExecuteContext {
  readonly root: string;
  readonly services: ServiceManager;
  readonly system: SystemActions;
  readonly socksProxy: string;
  readonly owners: Owners;
  /** The agent's record, updated in place and written after each step that changes it. */
  readonly record: AgentRecord;
  /** Called with a stopped instance just before its directories are archived (a final backup). Must not throw. */
  readonly beforeArchive?: (instance: string, kind: InstanceKind) => Promise<void>;
}

const ENV_PREFIX: Readonly<Record<InstanceKind, string>> = { smp: 'SMP_SERVER', xftp: 'XFTP_SERVER' };

/** The environment that selects an instance's directories (docs/reference/simplex-servers.md). */
export function instanceEnv(root: string, kind: InstanceKind, id: string): Record<string, string> {
  return {
    [`${ENV_PREFIX[kind]}_CFG_PATH`]: join(root, PATHS.configDir(kind, id)),
    [`${ENV_PREFIX[kind]}_LOG_PATH`]: join(root, PATHS.logDir(kind, id)),
  };
}

export function serviceSpec(root: string, kind: InstanceKind, id: string, name: string, binary: string, port: number): ServiceSpec {
  return {
    name,
    command: binary,
    args: ['start'],
    env: instanceEnv(root, kind, id),
    logFile: join(root, '/var/log/onionfleet', `${name}.log`),
    readyPort: port,
  };
}

export function makeExecutors(ctx: ExecuteContext): Executors {
  const at = (p: string) => join(ctx.root, p);
  const saveRecord = () => writeRecord(ctx.root, ctx.record);
  return {
    async installBinary(s) {
      await mkdir(dirname(s.path), { recursive: true });
      await installPinnedBinary({ url: s.url, sha256: s.sha256, dest: s.path, socksProxy: ctx.socksProxy, timeoutMs: 600_000 });
    },
    async createOnionKey(s) {
      const dir = at(s.dir);
      // tor (debian-tor) must be able to enter the directory that holds the onion dirs, which this
      // (root) process makes under /var/lib/tor: mkdir would leave it root's, 0700.
      await mkdir(dirname(dir), { recursive: true, mode: 0o700 });
      await ctx.owners.give(dirname(dir), 'debian-tor');
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const keys = onionKeysFromSeed(s.seed);
      await writeFileAtomic(join(dir, 'hs_ed25519_secret_key'), keys.secretKeyFile, { mode: 0o600 });
      await writeFileAtomic(join(dir, 'hs_ed25519_public_key'), keys.publicKeyFile, { mode: 0o600 });
      await ctx.owners.give(dir, 'debian-tor', { recursive: true });
      // The hostname last: its presence marks the key as complete (observe reads it).
      await writeFileAtomic(join(dir, 'hostname'), `${keys.hostname}\n`, { mode: 0o600 });
      await ctx.owners.give(join(dir, 'hostname'), 'debian-tor');
    },
    async initInstance(s) {
      const env = instanceEnv(ctx.root, s.kind, s.instance);
      const cfg = env[`${ENV_PREFIX[s.kind]}_CFG_PATH`] ?? '';
      const log = env[`${ENV_PREFIX[s.kind]}_LOG_PATH`] ?? '';
      // The servers' account must reach its directories through /etc/opt/simplex and /var/opt/simplex.
      for (const base of [dirname(cfg), dirname(log)]) {
        await mkdirReachable(base);
        await chmod(base, 0o755);
      }
      // An interrupted init leaves an ini without an identity; init refuses to run over an ini.
      await rm(cfg, { recursive: true, force: true });
      await mkdir(cfg, { recursive: true, mode: 0o700 });
      await mkdir(log, { recursive: true, mode: 0o700 });
      const args =
        s.kind === 'smp'
          ? ['init', '-y', '-n', s.host, '--password', s.password, '--disable-web', '--socks-proxy']
          : ['init', '-n', s.host, '-p', join(ctx.root, PATHS.xftpFilesDir(s.instance)), '-q', s.quota ?? '10gb'];
      try {
        await run(s.binary, args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, timeout: 120_000 });
      } catch (err) {
        const stderr = (err as { stderr?: string; stdout?: string }).stderr?.trim() ?? '';
        throw new OperationFailedError('instance-init-failed', `${s.instance}: ${basename(s.binary)} init failed${stderr ? `: ${stderr.split('\n')[0] ?? ''}` : ''}`, { cause: err });
      }
      await ctx.owners.give(cfg, 'simplex', { recursive: true });
      await ctx.owners.give(log, 'simplex', { recursive: true });
    },
    async restoreIdentity(s) {
      const problems = identityProblems(s.identity);
      if (problems.length > 0) throw new OperationFailedError('identity-refused', `${s.instance}: the identity it moved with is refused: ${problems.join('; ')}`);
      // A store log too large for the desired state was downloaded and staged; it must make what the controller signed.
      const download = s.identity.storeLogNote === 'fetch' ? s.identity.storeLogDownload : undefined;
      const downloaded = download === undefined ? null : await stagedLog(ctx.root, download);
      if (download !== undefined && downloaded === null) throw new OperationFailedError('identity-refused', `${s.instance}: its store log download is not whole, or does not make the log the controller named`);
      await archiveDirs(at, s.kind, s.instance, at(s.dest));
      await writeIdentity(ctx.root, s.identity, ctx.owners, downloaded);
      // tor serves the restored key only after a reload: the next round plans one.
      ctx.record.tor = null;
      await saveRecord();
    },
    async moveToRetiring(s) {
      for (const path of [PATHS.configDir(s.kind, s.instance), PATHS.logDir(s.kind, s.instance), PATHS.onionDir(s.instance)]) {
        const to = path.slice(0, path.length - s.instance.length) + s.to;
        if (await isDir(at(path))) await rename(at(path), at(to));
      }
      ctx.record.tor = null; // the onion directory moved: tor reloads next round
      await saveRecord();
    },
    async writeFile(s) {
      // tor reads /etc/tor/torrc.d again as debian-tor when it reloads: public files' new directories are 0755.
      if (s.file.mode === PUBLIC_MODE) await mkdirReachable(dirname(at(s.file.path)));
      else await mkdir(dirname(at(s.file.path)), { recursive: true });
      await writeFileAtomic(at(s.file.path), s.file.content, { mode: s.file.mode });
      if (s.file.owner !== undefined) {
        // Its directory too (e.g. an onion's authorized_clients/, which mkdir just made root's).
        await ctx.owners.give(dirname(at(s.file.path)), s.file.owner);
        await ctx.owners.give(at(s.file.path), s.file.owner);
      }
    },
    async removeFile(s) {
      await rm(at(s.path), { force: true });
    },
    async stopService(s) {
      await ctx.services.stop(s.service);
      ctx.record.services = Object.fromEntries(Object.entries(ctx.record.services).filter(([name]) => name !== s.service));
      await saveRecord();
    },
    async archiveInstance(s) {
      if (s.kind !== null) await ctx.beforeArchive?.(s.instance, s.kind);
      await archiveDirs(at, s.kind, s.instance, at(s.dest));
    },
    async daemonReload() {
      await ctx.services.daemonReload();
    },
    async startService(s) {
      await ctx.services.start(serviceSpec(ctx.root, s.kind, s.instance, s.service, s.binary, s.port));
      ctx.record.services[s.service] = s.configHash;
      await saveRecord();
    },
    async restartService(s) {
      await ctx.services.restart(serviceSpec(ctx.root, s.kind, s.instance, s.service, s.binary, s.port));
      ctx.record.services[s.service] = s.configHash;
      await saveRecord();
    },
    async reloadTor(s) {
      // The main torrc names this ClientOnionAuthDir; tor refuses to start when it does not exist.
      const clientAuth = join(ctx.root, PATHS.torClientAuthDir);
      await mkdir(clientAuth, { recursive: true, mode: 0o700 });
      await ctx.owners.give(clientAuth, 'debian-tor', { recursive: true });
      await ctx.system.reloadTor();
      ctx.record.tor = s.hash;
      await saveRecord();
    },
    async applyFirewall(s) {
      await ctx.system.applyFirewall(s.path);
      ctx.record.firewall = s.hash;
      await saveRecord();
    },
    async reloadSshd(s) {
      await ctx.system.reloadSshd(s.path);
      ctx.record.sshd = s.path === null ? null : s.hash;
      await saveRecord();
    },
    async recordRevision(s) {
      ctx.record.revision = s.revision;
      ctx.record.refused = null;
      await saveRecord();
    },
  };
}

/**
 * `mkdir -p` whose new directories are 0755 whatever the umask (the agent's unit sets UMask=0077):
 * other accounts — tor, the servers — must reach what is inside. Directories that exist are left alone.
 */
async function mkdirReachable(path: string): Promise<void> {
  const first = await mkdir(path, { recursive: true });
  if (first === undefined) return;
  for (let d = path; ; d = dirname(d)) {
    await chmod(d, 0o755);
    if (d === first || d === dirname(d)) break;
  }
}

/** Moves an instance's directories (or an onion's alone, `kind` null) into `dest`; never deletes. */
async function archiveDirs(at: (p: string) => string, kind: InstanceKind | null, instance: string, dest: string): Promise<void> {
  const paths = kind === null ? [['onion', PATHS.onionDir(instance)]] : [
    ['config', PATHS.configDir(kind, instance)],
    ['log', PATHS.logDir(kind, instance)],
    ['onion', PATHS.onionDir(instance)],
  ];
  let made = false;
  for (const [name = '', path = ''] of paths) {
    if (!(await isDir(at(path)))) continue;
    if (!made) await mkdir(dest, { recursive: true, mode: 0o700 });
    made = true;
    await rename(at(path), join(dest, name));
  }
}

async function isDir(path: string): Promise<boolean> {
  return (await stat(path).catch(() => null))?.isDirectory() === true;
}

/** Names of archived instance folders (for purge). */
export async function archivedEntries(root: string): Promise<string[]> {
  return readdir(join(root, PATHS.archive)).catch(() => []);
}
