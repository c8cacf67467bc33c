/**
 * The agent's step planner: desired state + one observation of the device → the steps that bring
 * the device to the desired state. Pure (no I/O, no clock, no randomness: the observation carries
 * the time and fresh onion seeds). Called again after the steps ran; converged when it returns none.
 *
 * Order, and why: binaries and onion keys first (init needs the binary and the onion hostname);
 * retired instances are stopped and archived before anything new starts (their ports free up);
 * `init` before the ini is written (init refuses to run over an ini, and empties its directories);
 * files before the reloads and restarts that read them; the applied revision is recorded last, in a
 * round of its own, so it is only ever recorded for a device that converged.
 */
import type { DesiredInstance, DesiredState, InstanceKind } from '#shared/schema/desired-state.ts';
import type { InstanceIdentity } from '#shared/schema/identity.ts';
import { refOf } from '#shared/schema/store-log-download.ts';
import type { AgentRecord } from '../record.ts';
import { renderDevice, type RenderedFile } from '../render/index.ts';
import { PATHS, serviceName } from '../render/paths.ts';
import { contentHash } from './hash.ts';
import { retiringName, withRetiring } from './retiring.ts';
import { fragmentWithout } from '../hold/plan.ts';
import type { BinaryName, Step } from './steps.ts';

export type ServiceState = 'active' | 'inactive' | 'failed';

export interface Observation {
  /** ISO time of the observation (archive names). */
  readonly now: string;
  readonly serviceManager: 'systemd' | 'supervisor';
  /** Content and mode of every managed path that exists. */
  readonly files: ReadonlyMap<string, { readonly content: string; readonly mode: number }>;
  /** Instances that have a config directory on the device. */
  readonly instancesOnDisk: ReadonlyMap<string, InstanceKind>;
  /** Onion service directories on the device, by name, with their hostname (null: unreadable). */
  readonly onions: ReadonlyMap<string, string | null>;
  /** A fresh seed and its hostname for each desired onion that has no key yet. */
  readonly newOnions: ReadonlyMap<string, { readonly seed: Uint8Array; readonly hostname: string }>;
  /** The fingerprint each instance's config directory holds (null: none); absent in older observers. */
  readonly fingerprints?: ReadonlyMap<string, string | null>;
  /** Instances whose identity (CA, server certificate and key, fingerprint) exists. */
  readonly initialized: ReadonlySet<string>;
  readonly services: ReadonlyMap<string, ServiceState>;
  readonly record: AgentRecord;
  /** SHA-256 of each server binary at its path, 'present' when not hashed, null when missing. */
  readonly binaries: ReadonlyMap<BinaryName, string | null>;
  /** The restore downloads whose parts are all staged (agent/restore/staging.ts), by reference; absent: none. */
  readonly stagedDownloads?: ReadonlySet<string>;
}

export interface AgentPlan {
  readonly steps: Step[];
  /** What cannot be done now, and why (e.g. a binary that is neither present nor pinned). */
  readonly blocked: string[];
}

const BINARY_OF: Readonly<Record<InstanceKind, BinaryName>> = { smp: 'smp-server', xftp: 'xftp-server' };

/** Files the agent may have written that are not per-instance: removed when no longer rendered. */
export const FIXED_MANAGED_PATHS: readonly string[] = [
  PATHS.torrc,
  PATHS.torrcFragment,
  PATHS.unitTemplate('smp'),
  PATHS.unitTemplate('xftp'),
  PATHS.firewallUnit,
  PATHS.firewallRules,
  PATHS.sshdDropIn,
];

/** Where the SSH onion's client authorization files live (one `<name>.auth` per admin key). */
export const CLIENT_AUTH_DIR = `${PATHS.onionDir('ssh')}/authorized_clients/`;

function isManaged(path: string): boolean {
  return FIXED_MANAGED_PATHS.includes(path) || (path.startsWith(CLIENT_AUTH_DIR) && path.endsWith('.auth'));
}

/**
 * @param options.contentRoot prefix for paths the servers read at run time (see RenderOptions):
 *   '' on a device, the agent's root in a sandbox.
 */
export function planSteps(input: DesiredState, obs: Observation, options: { contentRoot?: string; metricsIntervalSeconds?: number; heldAtBoot?: ReadonlySet<string> } = {}): AgentPlan {
  // An instance whose store log is still downloading is planned as if it were not here yet: no fresh
  // identity, no onion, no server — the restore comes once the download is whole (docs/continuity.md).
  const waiting = waitingForDownloads(input, obs);
  const given = waiting.size === 0 ? input : { ...input, instances: input.instances.filter((i) => !waiting.has(i.id)) };
  const { desired, moving } = withRetiring(given, obs);
  const held = new Set(moving.map((r) => r.instance.id));
  const steps: Step[] = [];
  const blocked: string[] = [...waiting.values()];

  const usable = new Map<InstanceKind, boolean>();
  for (const kind of ['smp', 'xftp'] as const) {
    if (!desired.instances.some((i) => i.kind === kind)) continue;
    const name = BINARY_OF[kind];
    const source = desired.binaries[name];
    const have = obs.binaries.get(name) ?? null;
    if (source.pin !== undefined && have !== source.pin.sha256) {
      steps.push({ action: 'installBinary', name, path: source.path, url: source.pin.url, sha256: source.pin.sha256 });
      usable.set(kind, true);
    } else if (have === null) {
      blocked.push(`${name} is missing at ${source.path} and the fleet pins no download for it`);
      usable.set(kind, false);
    } else {
      usable.set(kind, true);
    }
  }

  const hosts = new Map<string, string>();
  const restoring = identitiesToRestore(desired, obs);
  const onionNames = [...desired.instances.map((i) => i.id), ...(desired.ssh.overTor ? ['ssh'] : [])];
  for (const name of onionNames) {
    const restored = restoring.get(name);
    if (restored !== undefined) {
      hosts.set(name, restored.identity.onion.hostname);
      continue;
    }
    if (held.has(name)) continue; // its old identity moves aside first (a rotation); its new one comes next round
    const have = obs.onions.get(name);
    const fresh = obs.newOnions.get(name);
    if (have !== undefined && have !== null) hosts.set(name, have);
    else if (fresh !== undefined) {
      steps.push({ action: 'createOnionKey', name, dir: PATHS.onionDir(name), seed: fresh.seed, hostname: fresh.hostname });
      hosts.set(name, fresh.hostname);
    } else blocked.push(`onion ${name} has an unreadable key directory`);
  }

  retire(desired, obs, steps);
  for (const r of moving) {
    const service = serviceName(r.instance.kind, r.instance.id);
    if ((obs.services.get(service) ?? 'inactive') !== 'inactive') steps.push({ action: 'stopService', service, instance: r.instance.id, kind: r.instance.kind, because: 'its address was rotated: the old identity moves aside' });
    steps.push({ action: 'moveToRetiring', instance: r.instance.id, kind: r.instance.kind, to: retiringName(r.instance.id) });
  }
  // A moved identity replaces whatever the directories hold, after its old server stopped (docs/continuity.md).
  const stamp = obs.now.replace(/[:.]/g, '-');
  for (const [id, i] of restoring) {
    const service = serviceName(i.kind, id);
    if ((obs.services.get(service) ?? 'inactive') !== 'inactive') steps.push({ action: 'stopService', service, instance: id, kind: i.kind, because: 'its identity is replaced by the one it moved with' });
    steps.push({ action: 'restoreIdentity', instance: id, kind: i.kind, identity: i.identity, dest: `${PATHS.archive}/${stamp}-${id}-replaced` });
  }

  const ready = (kind: InstanceKind, id: string) => usable.get(kind) === true && hosts.has(id);
  for (const i of desired.instances) {
    if (obs.initialized.has(i.id) || restoring.has(i.id) || held.has(i.id) || !ready(i.kind, i.id)) continue;
    const binary = desired.binaries[BINARY_OF[i.kind]].path;
    steps.push({ action: 'initInstance', instance: i.id, kind: i.kind, host: hosts.get(i.id) ?? '', password: i.password, quota: i.quota ?? null, binary });
  }
  if (desired.instances.some((i) => !hosts.has(i.id))) return { steps, blocked };

  // Held at boot (agent/hold/): their onions stay out of tor's fragment and their servers stopped until released.
  const heldAtBoot = options.heldAtBoot ?? new Set<string>();
  const rendered = withoutHeldOnions(renderDevice(desired, hosts, { contentRoot: options.contentRoot ?? '', ...(options.metricsIntervalSeconds === undefined ? {} : { metricsIntervalSeconds: options.metricsIntervalSeconds }) }), heldAtBoot);
  const byPath = new Map(rendered.map((f) => [f.path, f]));
  const notReady = new Set(desired.instances.filter((i) => !ready(i.kind, i.id)).map((i) => PATHS.iniFile(i.kind, i.id)));
  let unitsChanged = false;
  for (const file of rendered) {
    if (notReady.has(file.path)) continue;
    const current = obs.files.get(file.path);
    const change = current === undefined ? 'create' : current.content !== file.content ? 'update' : current.mode !== file.mode ? 'mode' : null;
    if (change === null) continue;
    steps.push({ action: 'writeFile', file, change });
    if (file.kind === 'systemd' && change !== 'mode') unitsChanged = true;
  }
  for (const path of obs.files.keys()) {
    if (byPath.has(path) || !isManaged(path)) continue;
    steps.push({ action: 'removeFile', path, because: 'no longer managed for this desired state' });
    if (path.endsWith('.service')) unitsChanged = true;
  }
  if (unitsChanged && obs.serviceManager === 'systemd') steps.push({ action: 'daemonReload', because: 'unit files changed' });

  for (const i of desired.instances) {
    if (!ready(i.kind, i.id) || heldAtBoot.has(i.id)) continue;
    const service = serviceName(i.kind, i.id);
    const binary = desired.binaries[BINARY_OF[i.kind]].path;
    const configHash = contentHash(byPath.get(PATHS.iniFile(i.kind, i.id))?.content ?? '', byPath.get(PATHS.unitTemplate(i.kind))?.content ?? '', binary);
    const state = obs.services.get(service) ?? 'inactive';
    if (state !== 'active') steps.push({ action: 'startService', service, instance: i.id, kind: i.kind, binary, port: i.localPort, configHash });
    else if (obs.record.services[service] !== configHash) {
      steps.push({ action: 'restartService', service, instance: i.id, kind: i.kind, binary, port: i.localPort, configHash, because: 'its configuration changed' });
    }
  }

  const contentOf = (path: string) => byPath.get(path)?.content ?? '';
  // Client authorization files are read by tor too: a changed key needs a reload.
  const authFiles = rendered.filter((f) => f.path.startsWith(CLIENT_AUTH_DIR)).map((f) => `${f.path}\n${f.content}`);
  const torHash = contentHash(contentOf(PATHS.torrc), contentOf(PATHS.torrcFragment), ...authFiles);
  if (obs.record.tor !== torHash) steps.push({ action: 'reloadTor', hash: torHash, because: obs.record.tor === null ? 'first configuration' : 'its onion services changed' });
  const firewallHash = contentHash(contentOf(PATHS.firewallRules), contentOf(PATHS.firewallUnit));
  if (obs.record.firewall !== firewallHash && byPath.has(PATHS.firewallRules)) steps.push({ action: 'applyFirewall', path: PATHS.firewallRules, hash: firewallHash });
  const sshdHash = contentHash(contentOf(PATHS.sshdDropIn));
  if (obs.record.sshd !== sshdHash && (byPath.has(PATHS.sshdDropIn) || obs.record.sshd !== null)) {
    steps.push({ action: 'reloadSshd', path: byPath.has(PATHS.sshdDropIn) ? PATHS.sshdDropIn : null, hash: sshdHash });
  }

  if (steps.length === 0 && blocked.length === 0 && obs.record.revision !== desired.revision) steps.push({ action: 'recordRevision', revision: desired.revision });
  return { steps, blocked };
}

/** The rendered files with tor's fragment lacking the onions held at boot. */
function withoutHeldOnions(files: RenderedFile[], heldAtBoot: ReadonlySet<string>): RenderedFile[] {
  if (heldAtBoot.size === 0) return files;
  return files.map((f) => (f.path === PATHS.torrcFragment ? { ...f, content: fragmentWithout(f.content, [...heldAtBoot]) } : f));
}

/**
 * Desired instances that carry an identity the device does not serve yet (another onion or another
 * fingerprint on disk, or nothing): the identity must be restored. Same keys already: nothing to do.
 */
function identitiesToRestore(desired: DesiredState, obs: Observation): Map<string, DesiredInstance & { identity: InstanceIdentity }> {
  const out = new Map<string, DesiredInstance & { identity: InstanceIdentity }>();
  for (const i of desired.instances) if (i.identity !== undefined && needsRestore(i.id, i.identity, obs)) out.set(i.id, { ...i, identity: i.identity });
  return out;
}

/** Whether the device does not serve `identity` for `id` yet (other keys, or none). */
function needsRestore(id: string, identity: InstanceIdentity, obs: Observation): boolean {
  return !(obs.onions.get(id) === identity.onion.hostname && obs.fingerprints?.get(id) === identity.fingerprint && obs.initialized.has(id));
}

/** The instances to restore whose store log is a download not yet whole here, and what the status says of each. */
function waitingForDownloads(desired: DesiredState, obs: Observation): Map<string, string> {
  const out = new Map<string, string>();
  for (const i of desired.instances) {
    const download = i.identity?.storeLogDownload;
    if (i.identity?.storeLogNote !== 'fetch' || download === undefined || !needsRestore(i.id, i.identity, obs)) continue;
    if (obs.stagedDownloads?.has(refOf(download)) === true) continue;
    out.set(i.id, `${i.id}: waiting for its store log (a download of ${Math.ceil(download.bytes / 1024)} KiB in ${download.parts} parts) before it is restored`);
  }
  return out;
}

/** Stops and archives instances (and onion keys) on the device that the desired state no longer has. */
function retire(desired: DesiredState, obs: Observation, steps: Step[]): void {
  const wanted = new Map(desired.instances.map((i) => [i.id, i.kind]));
  const stamp = obs.now.replace(/[:.]/g, '-');
  const archived = new Set<string>();
  for (const [id, kind] of [...obs.instancesOnDisk].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (wanted.get(id) === kind) continue;
    const service = serviceName(kind, id);
    if ((obs.services.get(service) ?? 'inactive') !== 'inactive') steps.push({ action: 'stopService', service, instance: id, kind, because: 'no longer desired' });
    steps.push({ action: 'archiveInstance', instance: id, kind, dest: `${PATHS.archive}/${stamp}-${id}` });
    archived.add(id);
  }
  const onionWanted = new Set([...wanted.keys(), ...(desired.ssh.overTor ? ['ssh'] : [])]);
  for (const name of [...obs.onions.keys()].sort()) {
    if (onionWanted.has(name) || archived.has(name)) continue;
    steps.push({ action: 'archiveInstance', instance: name, kind: null, dest: `${PATHS.archive}/${stamp}-${name}` });
  }
}

export type { RenderedFile };
