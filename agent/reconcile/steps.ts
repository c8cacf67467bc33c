/**
 * Steps as data: what the agent does to a device, one discriminated union, executed by an
 * exhaustive record of executors (execute.ts). Pure: types and descriptions only.
 */
import type { InstanceKind } from '#shared/schema/desired-state.ts';
import type { InstanceIdentity } from '#shared/schema/identity.ts';
import type { RenderedFile } from '../render/index.ts';

export type BinaryName = 'smp-server' | 'xftp-server';

export interface StepArgs {
  /** Download a pinned server binary over Tor and install it atomically. */
  installBinary: { name: BinaryName; path: string; url: string; sha256: string };
  /** Write a new onion service key (from a seed drawn by the shell) into `dir`. */
  createOnionKey: { name: string; dir: string; seed: Uint8Array; hostname: string };
  /** Run the server's own `init` for a new instance (its identity and certificates). */
  initInstance: { instance: string; kind: InstanceKind; host: string; password: string; quota: string | null; binary: string };
  /**
   * Put an identity given by the desired state in place of what the instance's directories hold
   * (archived to `dest` first): the instance moved here and keeps its address.
   */
  restoreIdentity: { instance: string; kind: InstanceKind; identity: InstanceIdentity; dest: string };
  /** Move a rotated instance's old identity (its directories and onion) aside to `<id>-retiring`. */
  moveToRetiring: { instance: string; kind: InstanceKind; to: string };
  writeFile: { file: RenderedFile; change: 'create' | 'update' | 'mode' };
  removeFile: { path: string; because: string };
  stopService: { service: string; instance: string; kind: InstanceKind; because: string };
  /** Move an instance's directories and onion keys to a dated archive; never delete. */
  archiveInstance: { instance: string; kind: InstanceKind | null; dest: string };
  daemonReload: { because: string };
  startService: { service: string; instance: string; kind: InstanceKind; binary: string; port: number; configHash: string };
  restartService: { service: string; instance: string; kind: InstanceKind; binary: string; port: number; configHash: string; because: string };
  reloadTor: { hash: string; because: string };
  applyFirewall: { path: string; hash: string };
  reloadSshd: { path: string | null; hash: string };
  recordRevision: { revision: number };
}

type StepOf<A extends keyof StepArgs> = { action: A } & StepArgs[A];
export type Step = { [A in keyof StepArgs]: StepOf<A> }[keyof StepArgs];
export type Executors = { [A in keyof StepArgs]: (step: StepOf<A>) => Promise<void> };

/** One line per step for people and logs: never a password, seed or key. */
export function describeStep(step: Step): string {
  switch (step.action) {
    case 'installBinary':
      return `install ${step.name} at ${step.path} (sha256 ${step.sha256.slice(0, 12)}…)`;
    case 'createOnionKey':
      return `create onion key for ${step.name}`;
    case 'initInstance':
      return `init ${step.kind} instance ${step.instance}`;
    case 'restoreIdentity':
      return `restore the identity of ${step.instance} (epoch ${step.identity.epoch}, store log ${step.identity.storeLogNote})`;
    case 'moveToRetiring':
      return `move the old identity of ${step.instance} aside to ${step.to} (rotated; it retires later)`;
    case 'writeFile':
      return `${step.change === 'create' ? 'write' : step.change === 'update' ? 'update' : 'chmod'} ${step.file.path} (${step.file.kind}, mode ${step.file.mode.toString(8)})`;
    case 'removeFile':
      return `remove ${step.path} (${step.because})`;
    case 'stopService':
      return `stop ${step.service} (${step.because})`;
    case 'archiveInstance':
      return `archive ${step.instance} to ${step.dest}`;
    case 'daemonReload':
      return `reload systemd units (${step.because})`;
    case 'startService':
      return `start ${step.service}`;
    case 'restartService':
      return `restart ${step.service} (${step.because})`;
    case 'reloadTor':
      return `reload tor (${step.because})`;
    case 'applyFirewall':
      return `load firewall ${step.path}`;
    case 'reloadSshd':
      return step.path === null ? 'reload sshd (drop-in removed)' : `reload sshd (${step.path})`;
    case 'recordRevision':
      return `record revision ${step.revision} as applied`;
  }
}
