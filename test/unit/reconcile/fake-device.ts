/**
 * An in-memory device for the agent's pure planner: observations built from plain state, steps
 * applied to it. Throws on any step it does not model, so a new action cannot slip through untested.
 */
import { createHash } from 'node:crypto';
import type { Observation, ServiceState } from '../../../agent/reconcile/plan.ts';
import type { BinaryName, Step } from '../../../agent/reconcile/steps.ts';
import { PATHS } from '../../../agent/render/paths.ts';
import { emptyRecord, type AgentRecord } from '../../../agent/record.ts';
import type { DesiredState, InstanceKind } from '#shared/schema/desired-state.ts';
import { onionHostname } from '../../builders/desired.ts';

export class FakeDevice {
  files = new Map<string, { content: string; mode: number }>();
  instancesOnDisk = new Map<string, InstanceKind>();
  onions = new Map<string, string | null>();
  initialized = new Set<string>();
  fingerprints = new Map<string, string | null>();
  services = new Map<string, ServiceState>();
  record: AgentRecord = emptyRecord();
  binaries = new Map<BinaryName, string | null>([['smp-server', 'present'], ['xftp-server', 'present']]);
  archived: string[] = [];
  private seeds = 0;

  /** Like the real observe: a fresh (here deterministic) key for every desired onion that has none. */
  now = '2026-11-25T12:00:00.000Z';

  observe(desired: DesiredState, serviceManager: 'systemd' | 'supervisor' = 'supervisor'): Observation {
    const newOnions = new Map<string, { seed: Uint8Array; hostname: string }>();
    for (const name of [...desired.instances.map((i) => i.id), ...(desired.ssh.overTor ? ['ssh'] : [])]) {
      if (this.onions.has(name)) continue;
      this.seeds++;
      newOnions.set(name, { seed: new Uint8Array(32).fill(this.seeds & 0xff), hostname: onionHostname(`${name}-${this.seeds}`) });
    }
    return {
      now: this.now,
      serviceManager,
      files: new Map(this.files),
      instancesOnDisk: new Map(this.instancesOnDisk),
      onions: new Map(this.onions),
      newOnions,
      initialized: new Set(this.initialized),
      fingerprints: new Map(this.fingerprints),
      services: new Map(this.services),
      record: structuredClone(this.record),
      binaries: new Map(this.binaries),
    };
  }

  apply(step: Step): void {
    switch (step.action) {
      case 'createOnionKey':
        this.onions.set(step.name, step.hostname);
        return;
      case 'initInstance':
        this.instancesOnDisk.set(step.instance, step.kind);
        this.initialized.add(step.instance);
        this.fingerprints.set(step.instance, `${createHash('sha256').update(`${step.instance}/${step.host}`).digest('base64url')}=`);
        this.files.set(PATHS.iniFile(step.kind, step.instance), { content: '# written by init\n', mode: 0o644 });
        return;
      case 'restoreIdentity':
        if (this.instancesOnDisk.has(step.instance)) this.archived.push(step.dest);
        this.instancesOnDisk.set(step.instance, step.kind);
        this.initialized.add(step.instance);
        this.onions.set(step.instance, step.identity.onion.hostname);
        this.fingerprints.set(step.instance, step.identity.fingerprint);
        this.files.delete(PATHS.iniFile(step.kind, step.instance));
        this.record.tor = null;
        return;
      case 'moveToRetiring':
        for (const map of [this.instancesOnDisk, this.onions, this.fingerprints] as Map<string, unknown>[]) {
          if (map.has(step.instance)) map.set(step.to, map.get(step.instance));
          map.delete(step.instance);
        }
        if (this.initialized.delete(step.instance)) this.initialized.add(step.to);
        this.files.delete(PATHS.iniFile(step.kind, step.instance));
        this.record.tor = null;
        return;
      case 'writeFile':
        this.files.set(step.file.path, { content: step.file.content, mode: step.file.mode });
        return;
      case 'removeFile':
        this.files.delete(step.path);
        return;
      case 'stopService':
        this.services.set(step.service, 'inactive');
        this.record.services = Object.fromEntries(Object.entries(this.record.services).filter(([n]) => n !== step.service));
        return;
      case 'archiveInstance':
        this.archived.push(step.instance);
        this.onions.delete(step.instance);
        if (step.kind !== null) {
          this.instancesOnDisk.delete(step.instance);
          this.initialized.delete(step.instance);
          this.files.delete(PATHS.iniFile(step.kind, step.instance));
        }
        return;
      case 'startService':
      case 'restartService':
        this.services.set(step.service, 'active');
        this.record.services[step.service] = step.configHash;
        return;
      case 'reloadTor':
        this.record.tor = step.hash;
        return;
      case 'applyFirewall':
        this.record.firewall = step.hash;
        return;
      case 'reloadSshd':
        this.record.sshd = step.path === null ? null : step.hash;
        return;
      case 'recordRevision':
        this.record.revision = step.revision;
        return;
      case 'installBinary':
        this.binaries.set(step.name, step.sha256);
        return;
      case 'daemonReload':
        return;
    }
  }
}
