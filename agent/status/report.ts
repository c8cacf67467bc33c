/** The status document an agent reports (signed by the device, encrypted to the controller). */
import { join } from 'node:path';
import { loadJson } from '#shared/fs/load-json.ts';
import { DesiredState } from '#shared/schema/desired-state.ts';
import type { DeviceStatus } from '#shared/schema/status.ts';
import type { ResolvedConfig } from '../config.ts';
import { instanceHealth } from './instance-health.ts';
import type { SelfProbe } from '../probes/self-probe.ts';
import { readOnionHostname } from '../onion/onion-dir.ts';
import { readRecord } from '../record.ts';
import { PATHS } from '../render/paths.ts';
import { SSH_ONION } from '../render/torrc.ts';
import { DESIRED_COPY } from '../reconcile/loop.ts';
import type { ServiceManager } from '../services/service-manager.ts';
import { ONIONFLEET_VERSION } from '#shared/version.ts';

export const AGENT_VERSION = ONIONFLEET_VERSION;

export interface LastAttempt {
  /** The desired revision last received (applied or refused). */
  readonly desiredRevision: number;
  readonly error: string | null;
  readonly blocked: readonly string[];
  readonly converged: boolean;
}

/**
 * Observes every instance of the desired state the device works towards and builds its status.
 * With `selfProbe`, each instance carries the last result of the background probe of its onion,
 * and a new round is started when one is due (never awaited here).
 */
export async function buildStatus(config: ResolvedConfig, device: string, services: ServiceManager, last: LastAttempt, selfProbe: SelfProbe | null = null): Promise<DeviceStatus> {
  const record = await readRecord(config.root);
  const desired = await loadJson(join(config.root, DESIRED_COPY), DesiredState, 'a desired state').catch(() => null);
  const healths = [];
  for (const i of desired?.instances ?? []) healths.push({ h: await instanceHealth(config.root, i, services, { probe: true }), onionPort: i.onionPort });
  const targets = healths.flatMap(({ h, onionPort }) => (h.onion !== null && h.fingerprint !== null ? [{ id: h.id, kind: h.kind, onion: h.onion, onionPort, fingerprint: h.fingerprint }] : []));
  selfProbe?.kick(targets);
  const instances = [];
  for (const { h } of healths) {
    const onionProbe = selfProbe === null || h.onion === null || h.fingerprint === null ? null : selfProbe.result({ id: h.id, onion: h.onion, fingerprint: h.fingerprint });
    instances.push({
      id: h.id,
      kind: h.kind,
      group: h.group,
      service: h.service,
      onion: h.onion,
      fingerprint: h.fingerprint,
      address: h.address,
      probe: h.probe === null ? null : { reachable: h.probe.reachable, identityOk: h.probe.identityOk, helloOk: h.probe.helloOk, latencyMs: h.probe.latencyMs, error: h.probe.error },
      onionProbe,
      healthy: h.healthy,
    });
  }
  return {
    kind: 'onionfleet/status',
    version: 1,
    device,
    desiredRevision: last.desiredRevision,
    appliedRevision: record.revision,
    converged: last.converged && desired !== null && record.revision === desired.revision,
    refused: record.refused,
    error: last.error,
    blocked: [...last.blocked],
    instances,
    observedAt: new Date().toISOString(),
    sshOnion: desired?.ssh.overTor === true ? await readOnionHostname(join(config.root, PATHS.onionDir(SSH_ONION.name))) : null,
    agentVersion: AGENT_VERSION,
  };
}
