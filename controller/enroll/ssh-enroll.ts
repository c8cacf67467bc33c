/**
 * Enrolling a device over SSH (`onionfleet device add --ssh`), as eight steps with an undo each
 * (ssh-steps.ts): connect and pin the host key → check the device → upload the agent and its
 * installer → install → write the agent config → `onionfleet-agent init` (the keys are born on the
 * device) → register the record → start the agent. A failure rolls the device back to what it had
 * (install-agent.sh uninstall, the config and keys it had) and the registry to what it held.
 */
import { dirname, join } from 'node:path';
import { formatProblem, InternalError, OperationFailedError, type ErrorCode } from '#shared/errors.ts';
import { EnrollmentRecord } from '#shared/schema/enrollment.ts';
import { issuesToProblems, messages } from '#shared/schema/format-issues.ts';
import { listDevices, removeDevice, saveDevice } from '../state/devices.ts';
import type { StatePaths } from '../state/paths.ts';
import { syncAccess } from './access.ts';
import { registerDevice } from './register.ts';
import { agentConfig, factsScript, parseFacts, remoteLayout, RemoteShell, sh, type RemoteFacts, type RemoteLayout } from './ssh-remote.ts';
import { SshSession, type SshConnectOptions } from './ssh-session.ts';
import { describeEndpoint } from './ssh-target.ts';
import { runSteps, type Progress, type Step } from './ssh-steps.ts';

/** The root applier's systemd units and the boot hold's (deploy/), uploaded beside the agent's unit. */
export const APPLIER_UNITS = ['onionfleet-apply.socket', 'onionfleet-apply@.service', 'onionfleet-hold.service'] as const;

/** The oldest Node.js the single-file agent runs on. */
export const MIN_NODE_MAJOR = 20;

export interface SshEnrollOptions {
  readonly paths: StatePaths;
  readonly device: string;
  readonly ssh: SshConnectOptions;
  /** Local files: the single-file agent, deploy/install-agent.sh, deploy/onionfleet-agent.service. */
  readonly files: { readonly bundle: string; readonly installer: string; readonly unit: string };
  /** The agents' `nats.url`. */
  readonly natsUrl: string;
  readonly controller: { readonly signingKey: string; readonly ageRecipient: string };
  /** `/` on a Pi; a directory (tests, the demo): everything below it, no user, no systemctl. */
  readonly remoteRoot: string;
  readonly progress: Progress;
}

export interface SshEnrollResult {
  readonly record: EnrollmentRecord;
  /** The host key the connection was pinned to (`SHA256:…`). */
  readonly hostKey: string;
  readonly natsReloaded: boolean;
  /** systemd runs the agent, or (below a sandbox root) a detached process. */
  readonly agent: { readonly manager: 'systemd' } | { readonly manager: 'process'; readonly pid: number };
}

/** What the steps learn and make, in order; read only after the step that sets it. */
class Enrollment {
  session: SshSession | null = null;
  shell: RemoteShell | null = null;
  facts: RemoteFacts | null = null;
  tmp: string | null = null;
  record: EnrollmentRecord | null = null;
  natsReloaded = false;
  pid: number | null = null;

  constructor(readonly o: SshEnrollOptions, readonly layout: RemoteLayout) {}

  /** The real root needs root (through sudo -n when the login user is not root); a sandbox root does not. */
  get privileged(): boolean {
    return this.layout.root === '/';
  }

  need<T>(value: T | null, what: string): T {
    if (value === null) throw new InternalError(`${what} is not known yet`);
    return value;
  }

  /** Runs `script` as root (or as the user below a sandbox root); a non-zero exit throws with the output. */
  must(code: ErrorCode, what: string, script: string): Promise<string> {
    return this.need(this.shell, 'the shell').must(code, what, script, { privileged: this.privileged });
  }

  /** Best effort: the temp dir goes, the session closes. Never throws. */
  async cleanup(): Promise<void> {
    if (this.shell !== null && this.tmp !== null) await this.shell.run(`rm -rf ${sh(this.tmp)}`).catch(() => undefined);
    this.session?.close();
  }
}

/** Runs the steps; throws the failing step's error after the rollback (see the module comment). */
export async function enrollOverSsh(o: SshEnrollOptions): Promise<SshEnrollResult> {
  const e = new Enrollment(o, remoteLayout(o.remoteRoot));
  try {
    await runSteps([connect(e), check(e), upload(e), install(e), writeConfig(e), init(e), register(e), start(e)], o.progress);
    const agent = e.pid === null ? { manager: 'systemd' as const } : { manager: 'process' as const, pid: e.pid };
    return { record: e.need(e.record, 'the record'), hostKey: e.need(e.session, 'the session').hostKey, natsReloaded: e.natsReloaded, agent };
  } finally {
    await e.cleanup();
  }
}

function connect(e: Enrollment): Step {
  const { socks, hostKey, endpoint } = e.o.ssh;
  return {
    title: `connecting to ${describeEndpoint(endpoint)}${socks === null ? '' : ` through the SOCKS proxy ${socks.host}:${socks.port}`} (${hostKey === null ? 'host key not pinned yet' : `host key pinned to ${hostKey}`})`,
    run: async () => {
      e.session = await SshSession.connect(e.o.ssh);
    },
  };
}

function check(e: Enrollment): Step {
  return {
    title: `checking the device (Node.js ≥ ${MIN_NODE_MAJOR}${e.privileged ? ', root or sudo' : ''})`,
    run: async () => {
      const session = e.need(e.session, 'the session');
      const who = await new RemoteShell(session, false).must('remote-probe-failed', 'id -u', 'u=$(id -u); echo "$u"; [ "$u" = 0 ] || ! sudo -n true 2>/dev/null || echo sudo');
      const [uid, sudo] = who.trim().split('\n');
      if (e.privileged && uid !== '0' && sudo !== 'sudo') {
        throw new OperationFailedError('remote-not-root', `${session.where}: user ${e.o.ssh.endpoint.user} is not root and cannot use sudo without a password`, { hint: 'log in as root (--ssh root@…), or give that user passwordless sudo' });
      }
      e.shell = new RemoteShell(session, e.privileged && uid !== '0');
      const facts = parseFacts(await e.must('remote-probe-failed', 'probing the device', factsScript(e.layout)));
      if (facts.node === null) {
        throw new OperationFailedError('remote-node-missing', `${session.where}: no node on the PATH; the agent needs Node.js ≥ ${MIN_NODE_MAJOR}`, { hint: 'install Node.js 20 or later on the device (Debian 12 ships 18: use nodejs.org or NodeSource)' });
      }
      if (facts.nodeMajor === null || facts.nodeMajor < MIN_NODE_MAJOR) {
        throw new OperationFailedError('remote-node-too-old', `${session.where}: ${facts.node} is Node.js ${facts.nodeMajor ?? '(unknown version)'}; the agent needs ≥ ${MIN_NODE_MAJOR}`, { hint: 'install Node.js 20 or later on the device' });
      }
      e.facts = facts;
    },
  };
}

function upload(e: Enrollment): Step {
  return {
    title: 'uploading the agent and its installer to a temp dir',
    undo: () => ({ title: 'removing the temp dir', run: async () => {
      if (e.tmp !== null) await e.need(e.shell, 'the shell').must('remote-cleanup-failed', 'removing the temp dir', `rm -rf ${sh(e.tmp)}`);
      e.tmp = null;
    } }),
    run: async () => {
      const shell = e.need(e.shell, 'the shell');
      const tmp = (await shell.must('remote-upload-failed', 'mktemp', 'mktemp -d /tmp/onionfleet-enroll.XXXXXXXX')).trim();
      if (!/^\/tmp\/onionfleet-enroll\.[A-Za-z0-9]+$/.test(tmp)) throw new OperationFailedError('remote-upload-failed', `mktemp answered ${JSON.stringify(tmp)}`);
      e.tmp = tmp;
      const session = e.need(e.session, 'the session');
      await session.upload(e.o.files.bundle, `${tmp}/onionfleet-agent.mjs`, 0o644);
      await session.upload(e.o.files.installer, `${tmp}/install-agent.sh`, 0o755);
      await session.upload(e.o.files.unit, `${tmp}/onionfleet-agent.service`, 0o644);
      // The applier's units go beside the agent's, where install-agent.sh looks for them.
      for (const name of APPLIER_UNITS) await session.upload(join(dirname(e.o.files.unit), name), `${tmp}/${name}`, 0o644);
    },
  };
}

function install(e: Enrollment): Step {
  const root = sh(e.layout.root);
  return {
    title: e.privileged ? 'installing (user onionfleet, directories, systemd unit)' : `installing below ${e.layout.root} (directories, unit file; no user, no systemctl)`,
    // An installation that was there before stays: the installer only refreshed its files.
    undo: () => (e.need(e.facts, 'the facts').installed ? null : { title: 'uninstalling (install-agent.sh uninstall)', run: async () => {
      const tmp = e.need(e.tmp, 'the temp dir');
      await e.must('remote-uninstall-failed', 'install-agent.sh uninstall', `sh ${sh(`${tmp}/install-agent.sh`)} uninstall --root ${root}`);
    } }),
    run: async () => {
      const tmp = e.need(e.tmp, 'the temp dir');
      const node = e.need(e.facts, 'the facts').node ?? 'node';
      await e.must('remote-install-failed', 'install-agent.sh install', `sh ${sh(`${tmp}/install-agent.sh`)} install --bundle ${sh(`${tmp}/onionfleet-agent.mjs`)} --unit ${sh(`${tmp}/onionfleet-agent.service`)} --node ${sh(node)} --root ${root}`);
    },
  };
}

/** Copies `tmp/name` over the agent config, atomically (a temp file beside it, then rename), mode 0600. */
function replaceConfig(e: Enrollment, name: string): Promise<string> {
  const config = sh(e.layout.config);
  const next = sh(`${e.layout.config}.new`);
  return e.must('remote-config-failed', 'writing the agent config', `cp ${sh(`${e.need(e.tmp, 'the temp dir')}/${name}`)} ${next} && chmod 0600 ${next} && mv -f ${next} ${config}`);
}

function writeConfig(e: Enrollment): Step {
  return {
    title: `writing the agent config (${e.layout.config})`,
    undo: () => {
      const previous = e.need(e.facts, 'the facts').config;
      if (previous === null) return { title: 'removing the agent config', run: async () => { await e.must('remote-config-failed', 'removing the agent config', `rm -f ${sh(e.layout.config)} ${sh(`${e.layout.config}.new`)}`); } };
      return { title: 'restoring the previous agent config', run: async () => {
        await e.need(e.session, 'the session').upload(new TextEncoder().encode(previous), `${e.need(e.tmp, 'the temp dir')}/agent.previous.json`, 0o600);
        await replaceConfig(e, 'agent.previous.json');
      } };
    },
    run: async () => {
      const previousText = e.need(e.facts, 'the facts').config;
      let previous: unknown = null;
      try {
        previous = previousText === null ? null : JSON.parse(previousText);
      } catch {
        previous = undefined;
      }
      if (previous !== null && (typeof previous !== 'object' || Array.isArray(previous))) {
        throw new OperationFailedError('remote-config-invalid', `${e.layout.config} on the device is not a JSON object`, { hint: 'fix or remove it, then enroll again' });
      }
      const config = agentConfig(previous as Record<string, unknown> | null, { root: e.layout.root, device: e.o.device, controller: e.o.controller, natsUrl: e.o.natsUrl });
      await e.need(e.session, 'the session').upload(new TextEncoder().encode(`${JSON.stringify(config, null, 2)}\n`), `${e.need(e.tmp, 'the temp dir')}/agent.json`, 0o600);
      await replaceConfig(e, 'agent.json');
    },
  };
}

/** The record `onionfleet-agent init` printed, checked: an EnrollmentRecord, for `device`. */
export function parseRecord(stdout: string, device: string, where: string): EnrollmentRecord {
  let raw: unknown;
  try {
    raw = JSON.parse(stdout);
  } catch (err) {
    throw new OperationFailedError('enroll-bad-record', `${where}: onionfleet-agent init printed no JSON enrollment record`, { cause: err });
  }
  const parsed = EnrollmentRecord.safeParse(raw, { error: messages });
  if (!parsed.success) {
    throw new OperationFailedError('enroll-bad-record', `${where}: onionfleet-agent init printed an invalid enrollment record:\n${issuesToProblems('record', parsed.error.issues, raw).map(formatProblem).join('\n')}`);
  }
  if (parsed.data.device !== device) throw new OperationFailedError('enroll-bad-record', `${where}: the enrollment record is for device "${parsed.data.device}", not --id "${device}"`);
  return parsed.data;
}

function init(e: Enrollment): Step {
  return {
    title: 'running onionfleet-agent init (the keys are made on the device)',
    // Keys that were there before stay (init keeps them); new ones go.
    undo: () => (e.need(e.facts, 'the facts').keys ? null : { title: "removing the device's new keys", run: async () => { await e.must('remote-cleanup-failed', 'removing the keys', `rm -rf ${sh(e.layout.keys)}`); } }),
    run: async () => {
      const out = await e.must('remote-init-failed', 'onionfleet-agent init', `${sh(e.layout.bin)} init --device ${sh(e.o.device)} --config ${sh(e.layout.config)}`);
      e.record = parseRecord(out, e.o.device, e.need(e.session, 'the session').where);
    },
  };
}

function register(e: Enrollment): Step {
  const { paths, device } = e.o;
  return {
    title: `registering ${device} (its NATS user and onion client key)`,
    undo: async () => {
      const previous = (await listDevices(paths)).find((d) => d.device === device) ?? null;
      const restore = previous === null ? () => removeDevice(paths, device) : () => saveDevice(paths, previous);
      return { title: previous === null ? `unregistering ${device}` : `restoring the previous registration of ${device}`, run: async () => {
        await restore();
        await syncAccess(paths);
      } };
    },
    run: async () => {
      e.natsReloaded = (await registerDevice(paths, e.need(e.record, 'the record'), e.need(e.session, 'the session').where)).natsReloaded;
    },
  };
}

/**
 * systemd on the real root; below a sandbox root a detached process (setsid, its own session, so the
 * SSH channel does not wait for it), its pid in agent.pid. Either must still run a moment later.
 */
function start(e: Enrollment): Step {
  const { bin, config, agentLog, pidFile } = e.layout;
  const systemd = [
    'systemctl enable --now onionfleet-agent.service',
    'sleep 2',
    'systemctl is-active --quiet onionfleet-agent.service || { systemctl status --no-pager -n 20 onionfleet-agent.service >&2; exit 1; }',
  ].join('\n');
  const detached = [
    'cd /',
    `( setsid nohup ${sh(bin)} run --config ${sh(config)} >>${sh(agentLog)} 2>&1 </dev/null & echo $! >${sh(pidFile)} )`,
    `pid=$(cat ${sh(pidFile)})`,
    'sleep 1',
    String.raw`state=$(sed -n 's/^[0-9]* (.*) \([A-Za-z]\) .*/\1/p' "/proc/$pid/stat" 2>/dev/null || true)`,
    `if [ -z "$state" ] || [ "$state" = Z ]; then tail -n 20 ${sh(agentLog)} >&2; exit 1; fi`,
    'echo "$pid"',
  ].join('\n');
  return {
    title: e.privileged ? 'starting the agent (systemctl enable --now onionfleet-agent)' : `starting the agent detached (log ${agentLog})`,
    run: async () => {
      const out = await e.must('remote-start-failed', 'starting the agent', e.privileged ? systemd : detached);
      if (!e.privileged) e.pid = Number(out.trim());
    },
  };
}
