/**
 * One observation of the device (below the agent's root), for the pure planner. Reads only; the
 * fresh onion seeds it draws are the planner's randomness, used only if it plans those keys.
 */
import { randomBytes } from 'node:crypto';
import { access, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { onionKeysFromSeed } from '#shared/crypto/onion.ts';
import { sha256OfFile } from '#shared/fs/sha256.ts';
import type { DesiredState, InstanceKind } from '#shared/schema/desired-state.ts';
import { readRecord } from '../record.ts';
import { PATHS, serviceName } from '../render/paths.ts';
import type { ServiceManager } from '../services/service-manager.ts';
import { CLIENT_AUTH_DIR, FIXED_MANAGED_PATHS, type Observation, type ServiceState } from './plan.ts';
import { retiringName } from './retiring.ts';
import { downloadsIn } from '#shared/schema/store-log-download.ts';
import { completeDownloads } from '../restore/staging.ts';
import type { BinaryName } from './steps.ts';

export interface ObserveContext {
  readonly root: string;
  readonly services: ServiceManager;
  /**
   * Hashes of pinned binaries by path, size and mtime, kept across rounds by a long-running agent
   * so a heartbeat does not re-read an 11 MB binary twice a minute.
   */
  readonly binaryHashes?: Map<string, { size: number; mtimeMs: number; sha256: string | null }>;
}

/** Identity files `start` needs (docs/reference/simplex-servers.md). */
const IDENTITY_FILES = ['ca.crt', 'server.crt', 'server.key', 'fingerprint'] as const;

export async function observe(desired: DesiredState, ctx: ObserveContext): Promise<Observation> {
  const at = (p: string) => join(ctx.root, p);
  const instancesOnDisk = new Map<string, InstanceKind>();
  for (const kind of ['smp', 'xftp'] as const) {
    for (const id of await subdirs(at(PATHS.configDir(kind, '')))) instancesOnDisk.set(id, kind);
  }
  const onions = new Map<string, string | null>();
  for (const name of await subdirs(at(PATHS.onionDir('')))) {
    const hostname = (await readFile(at(`${PATHS.onionDir(name)}/hostname`), 'utf8').catch(() => '')).trim();
    onions.set(name, /^[a-z2-7]{56}\.onion$/.test(hostname) ? hostname : null);
  }
  const newOnions = new Map<string, { seed: Uint8Array; hostname: string }>();
  for (const name of [...desired.instances.map((i) => i.id), ...(desired.ssh.overTor ? ['ssh'] : [])]) {
    if (onions.has(name)) continue;
    const seed = new Uint8Array(randomBytes(32));
    newOnions.set(name, { seed, hostname: onionKeysFromSeed(seed).hostname });
  }

  const all = new Map<string, InstanceKind>([...instancesOnDisk, ...desired.instances.map((i) => [i.id, i.kind] as const)]);
  const initialized = new Set<string>();
  const fingerprints = new Map<string, string | null>();
  const services = new Map<string, ServiceState>();
  for (const [id, kind] of all) {
    if (await allExist(IDENTITY_FILES.map((f) => at(`${PATHS.configDir(kind, id)}/${f}`)))) initialized.add(id);
    fingerprints.set(id, (await readFile(at(`${PATHS.configDir(kind, id)}/fingerprint`), 'utf8').catch(() => '')).trim() || null);
    const name = serviceName(kind, id);
    services.set(name, await ctx.services.state(name));
  }

  const files = new Map<string, { content: string; mode: number }>();
  const authFiles = (await readdir(at(CLIENT_AUTH_DIR)).catch(() => [])).map((f) => `${CLIENT_AUTH_DIR}${f}`);
  const retiringInis = (desired.retiring ?? []).map((r) => PATHS.iniFile(r.instance.kind, retiringName(r.instance.id)));
  const paths = [...FIXED_MANAGED_PATHS, ...desired.instances.map((i) => PATHS.iniFile(i.kind, i.id)), ...retiringInis, ...authFiles];
  for (const path of paths) {
    try {
      const [content, info] = await Promise.all([readFile(at(path), 'utf8'), stat(at(path))]);
      files.set(path, { content, mode: info.mode & 0o777 });
    } catch {
      // absent
    }
  }

  const binaries = new Map<BinaryName, string | null>();
  for (const name of ['smp-server', 'xftp-server'] as const) {
    const source = desired.binaries[name];
    binaries.set(name, source.pin === undefined ? ((await exists(source.path)) ? 'present' : null) : await pinnedHash(source.path, ctx.binaryHashes));
  }

  // Downloads matter only for identities not restored yet (putting one together reads and hashes it).
  const pendingDownloads = downloadsIn({ instances: desired.instances.filter((i) => i.identity !== undefined && fingerprints.get(i.id) !== i.identity.fingerprint) });
  return {
    stagedDownloads: await completeDownloads(ctx.root, pendingDownloads),
    now: new Date().toISOString(),
    serviceManager: ctx.services.kind,
    files,
    instancesOnDisk,
    onions,
    newOnions,
    initialized,
    fingerprints,
    services,
    record: await readRecord(ctx.root),
    binaries,
  };
}

async function pinnedHash(path: string, cache: ObserveContext['binaryHashes']): Promise<string | null> {
  const info = await stat(path).catch(() => null);
  if (info === null) return null;
  const hit = cache?.get(path);
  if (hit !== undefined && hit.size === info.size && hit.mtimeMs === info.mtimeMs) return hit.sha256;
  const sha256 = await sha256OfFile(path).catch(() => null);
  cache?.set(path, { size: info.size, mtimeMs: info.mtimeMs, sha256 });
  return sha256;
}

async function subdirs(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  } catch {
    return [];
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

async function allExist(paths: readonly string[]): Promise<boolean> {
  return (await Promise.all(paths.map(exists))).every(Boolean);
}
