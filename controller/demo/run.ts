/**
 * The demo's story, step by step, with the real commands a newcomer would type: plan the demo
 * fleet, start the network and `onionfleet serve`, enroll the simulated Pis (`onionfleet-agent init`
 * + `onionfleet device add`), start their agents, `apply --wait`, `status`, with `--tor` `probe`,
 * then `bundle export` and `bundle open`. `serve`, the agents, `apply --wait` and `probe` are
 * processes (./processes.ts), so Ctrl-C can stop them at once; the quick controller commands run in
 * this process through the CLI's own main(), each in well under a second where a process would take
 * seconds on a loaded machine.
 *
 * Order matters: the network starts first (over Tor it takes a minute, and planning and keys do not
 * need it); the agents' configs need the NATS url, so over loopback `serve` (which picks the port)
 * runs before enrollment — over Tor the url is the NATS onion's, known beforehand, and enrollment
 * comes first (see serveAndEnroll); agents start after every device is registered (their NATS users exist)
 * and, over Tor, once every Pi's tor has bootstrapped; `apply` comes last, so `--wait` shows the
 * whole convergence.
 */
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { relative } from 'node:path';
import type { Output } from '#shared/cli/output.ts';
import { OperationFailedError } from '#shared/errors.ts';
import { writeFileAtomic } from '#shared/fs/atomic-write.ts';
import { readRuntime } from '../nats-server/sync.ts';
import { loadIdentity } from '../state/identity.ts';
import { statePaths } from '../state/paths.ts';
import { readTorRuntime } from '../tor/runtime.ts';
import { DEMO_DEVICES, DEMO_GROUPS, DEMO_READER } from './fleet.ts';
import type { DemoLayout } from './layout.ts';
import type { DemoNetwork } from './network.ts';
import { DemoInterrupted, type DemoProcesses, type RunOptions, type StepRun } from './processes.ts';
import { DEMO_BINS, agentConfig, choosePortOffsets, writeMembersAndFleet } from './setup.ts';
import { forgetOnions } from './tor-network.ts';
import { allHealthy, demoSummary, ExportJson, InitJson, parseJsonOutput, ProbeJson, StatusJson, type DemoSummary } from './summary.ts';

export interface DemoRun {
  readonly layout: DemoLayout;
  readonly network: DemoNetwork;
  readonly processes: DemoProcesses;
  /** Aborted on Ctrl-C: every wait ends with {@link DemoInterrupted}. */
  readonly signal: AbortSignal;
  /** Progress lines (stderr). */
  readonly progress: (line: string) => void;
  /** What people read — the plan, the status table, the opened bundle — or null (`--json`). */
  readonly show: ((text: string) => void) | null;
  /** The controller CLI in this process: `onionfleet <args>` with its output captured; the exit code. */
  readonly cli: (args: readonly string[], output: Output) => Promise<number>;
  /** The fleet's name (its bundles are trusted per fleet: two demos with two names share a member machine). */
  readonly fleet: string;
}

export interface DemoResult {
  readonly summary: DemoSummary;
  /** Every instance healthy at the end. */
  readonly healthy: boolean;
  /** With `--tor`: the verdict of `onionfleet probe` (through the controller's tor); null without. */
  readonly probe: ProbeJson['verdict'] | null;
  readonly natsUrl: string;
}

/** Over Tor, the agents first reach NATS through the onion: convergence takes longer. */
const APPLY_TIMEOUT_S = { loopback: 90, tor: 240 };
const SERVE_READY_MS = { loopback: 30_000, tor: 60_000 };
const HEALTHY_MS = 60_000;
/** `probe` again until every instance answers (tor may still be publishing the Pis' onions), until this deadline. */
const PROBE_MS = 150_000;
const PROBE_TIMEOUT_S = 30;
const PROBE_PAUSE_MS = 5_000;

/**
 * Runs the story. @throws {DemoInterrupted} on Ctrl-C; {@link OperationFailedError} when a step
 * fails (naming its log). Stopping what was started is the caller's job (DemoProcesses.stopAll).
 */
export async function runDemo(run: DemoRun): Promise<DemoResult> {
  const started = Date.now();
  const { layout, progress, network } = run;
  const steps = network.tor ? 10 : 9;
  const step = (n: number, text: string) => { progress(`[${n}/${steps}] ${text}`); };
  const state = ['--state', layout.controller];

  network.start(); // before anything else: the steps up to `serve` do not need it
  step(1, `the demo fleet: ${DEMO_DEVICES.length} Pis of 3 operators in 3 countries, groups ${DEMO_GROUPS.map((g) => `${g.id} (${g.tier})`).join(' and ')} — onionfleet plan -f fleet.yaml`);
  await writeMembersAndFleet(layout, run.fleet);
  run.show?.((await onionfleet(run, 'plan', ['plan', '-f', layout.fleet])).stdout.trimEnd());

  step(2, `network: ${network.description}${network.tor ? ' — coming up meanwhile' : ''}`);

  step(3, 'controller keys — onionfleet init');
  const init = parseJsonOutput(InitJson, (await onionfleet(run, 'init', ['init', ...state, '--json'])).stdout, 'onionfleet init', layout.log('init'));
  progress(`      signing key ${init.fingerprint} in ${rel(layout, layout.controller)}/`);

  const natsUrl = await serveAndEnroll(run, step);

  step(6, `one agent per Pi — onionfleet-agent run (built-in supervisor, sandboxed root${network.tor ? "; NATS only through the Pi's own tor" : ''})`);
  for (const d of DEMO_DEVICES) await run.processes.start(`agent-${d.id}`, 'agent', DEMO_BINS.agent, ['run', '--config', layout.device(d.id).config]);

  step(7, 'applying the fleet, waiting for convergence — onionfleet apply -f fleet.yaml --wait');
  await onionfleet(run, 'apply', ['apply', '-f', layout.fleet, ...state, '--wait', '--timeout', String(APPLY_TIMEOUT_S[network.tor ? 'tor' : 'loopback'])], { process: true, onLine: (line) => { progress(`      ${line}`); } });

  step(8, 'fleet status — onionfleet status');
  const status = await waitHealthy(run);
  run.show?.((await onionfleet(run, 'status', ['status', ...state], {}, [0, 1])).stdout.trimEnd());

  let probe: ProbeJson | null = null;
  if (network.tor) {
    step(9, "every instance through the controller's tor, identity checked against its pin — onionfleet probe");
    probe = await probeFleet(run);
  }

  step(steps, `member bundles — onionfleet bundle export --page, then bundle open (${DEMO_READER}'s)`);
  const exports: ExportJson[] = [];
  for (const g of DEMO_GROUPS) {
    const name = `bundle-export-${g.id}`;
    const out = parseJsonOutput(ExportJson, (await onionfleet(run, name, ['bundle', 'export', '-f', layout.fleet, '--group', g.id, '--out', layout.bundles, '--page', ...state, '--json'])).stdout, 'onionfleet bundle export', layout.log(name));
    exports.push(out);
    progress(`      ${g.id}: ${out.smp} SMP, ${out.xftp} XFTP → ${out.files.map((f) => rel(layout, f.file)).join(', ')} (+ .sig each; pages: <member>.html.age)`);
  }
  const fingerprint = exports[0]?.sshFingerprint ?? init.fingerprint;
  progress(`      the admin gives members once: onionfleet bundle signer -f fleet.yaml > allowed_signers  (key ${fingerprint})`);
  progress(`      a member checks with stock tools: ssh-keygen -Y verify -f allowed_signers -I ${run.fleet} -n onionfleet-bundle -s ${rel(layout, layout.bundle(DEMO_READER))}.sig < ${rel(layout, layout.bundle(DEMO_READER))}, then age -d -i KEY ${rel(layout, layout.bundle(DEMO_READER))}`);
  progress(`      $ onionfleet bundle open ${rel(layout, layout.bundle(DEMO_READER))} -i ${rel(layout, layout.memberKey(DEMO_READER))} --controller-key ${fingerprint}`);
  const opened = await onionfleet(run, 'bundle-open', ['bundle', 'open', layout.bundle(DEMO_READER), '-i', layout.memberKey(DEMO_READER), '--controller-key', fingerprint], { secretStdout: true });
  if (run.show === null) progress(`      opened ${DEMO_READER}'s bundle: both signatures checked against ${fingerprint}`);
  else run.show(opened.stdout.trimEnd());

  const verdict = probe?.verdict ?? null;
  return { summary: demoSummary(status, exports, Date.now() - started, verdict), healthy: allHealthy(status), probe: verdict, natsUrl };
}

/**
 * Steps 4 and 5, `onionfleet serve` and enrolling the Pis, in the order the network allows; the
 * NATS url `serve` listens on. With a url the agents dial fixed beforehand (the NATS onion), the
 * Pis are enrolled first: `serve` then starts with every device's NATS user and onion client key,
 * and its tor publishes one descriptor for them all. (Enrolled afterwards, each `device add`
 * reloads that tor right as it first publishes, and a Pi's tor was seen holding a descriptor
 * without its key for two minutes.) Over loopback the url is the port `serve` picks: `serve` first.
 */
async function serveAndEnroll(run: DemoRun, step: (n: number, text: string) => void): Promise<string> {
  const { layout, network, progress } = run;
  const fixedUrl = await network.agentsNatsUrl();
  const serveStep = async (n: number): Promise<string> => {
    step(n, network.tor
      ? 'control plane — onionfleet serve --tor (nats-server with JetStream on 127.0.0.1, published as an onion service only enrolled Pis can open)'
      : 'control plane — onionfleet serve (nats-server with JetStream, 127.0.0.1 only)');
    await network.ready();
    const url = await startServe(run);
    progress(`      NATS listening on ${url}${fixedUrl === null ? '' : `; the agents dial its onion (address in ${rel(layout, statePaths(layout.controller).natsOnionDir)}/)`}`);
    return url;
  };
  const enrollStep = async (n: number, url: string): Promise<void> => {
    step(n, `enrolling ${DEMO_DEVICES.map((d) => d.id).join(', ')} — ${network.tor ? "each Pi's own tor, " : ''}onionfleet-agent init, onionfleet device add`);
    await network.ready();
    await enrollDevices(run, url);
  };
  if (fixedUrl === null) {
    const url = await serveStep(4);
    await enrollStep(5, url);
    return url;
  }
  await enrollStep(4, fixedUrl);
  return serveStep(5);
}

/**
 * `onionfleet <args>`, its output in `logs/<name>.log`: in this process (the CLI's own main(), as
 * quick as a function call), or as a process with `options.process` (for a long command that
 * Ctrl-C must be able to stop at once).
 * @throws {OperationFailedError} `demo-step-failed` when it exits with a code not in `ok`;
 *   {@link DemoInterrupted} when the demo was interrupted meanwhile.
 */
async function onionfleet(run: DemoRun, name: string, args: readonly string[], options: RunOptions & { process?: boolean } = {}, ok: readonly number[] = [0]): Promise<StepRun> {
  const result = options.process === true ? await run.processes.run(name, DEMO_BINS.onionfleet, args, options) : await inProcess(run, name, args, options);
  if (run.signal.aborted) throw new DemoInterrupted();
  return checked(run, name, result, `onionfleet ${args.slice(0, 2).join(' ')}`, ok, options.secretStdout === true);
}

async function inProcess(run: DemoRun, name: string, args: readonly string[], options: RunOptions): Promise<StepRun> {
  if (run.signal.aborted) throw new DemoInterrupted();
  let stdout = '';
  let stderr = '';
  const line = (t: string) => (t.endsWith('\n') ? t : `${t}\n`);
  const code = await run.cli(args, {
    out: (t) => { stdout += line(t); },
    err: (t) => {
      stderr += line(t);
      for (const l of line(t).slice(0, -1).split('\n')) options.onLine?.(l);
    },
  });
  await appendFile(run.layout.log(name), `$ onionfleet ${args.join(' ')}\n${options.secretStdout === true ? '' : stdout}${stderr}`, { mode: 0o600 });
  return { code, stdout, stderr };
}

function checked(run: DemoRun, name: string, result: StepRun, command: string, ok: readonly number[], secretStdout: boolean): StepRun {
  if (ok.includes(result.code)) return result;
  const tail = [...result.stderr.trim().split('\n'), ...(secretStdout ? [] : result.stdout.trim().split('\n'))].filter((l) => l !== '').slice(-6);
  throw new OperationFailedError('demo-step-failed', [`\`${command}\` failed (exit ${result.code}):`, ...tail.map((l) => `  ${l}`)].join('\n'), { hint: `its full output is in ${run.layout.log(name)}` });
}

/** Starts `onionfleet serve` on a free port; resolves with its NATS url once it listens (buckets made). */
async function startServe(run: DemoRun): Promise<string> {
  const { layout } = run;
  await run.processes.start('serve', 'serve', DEMO_BINS.onionfleet, ['serve', '--state', layout.controller, '--port', '0', ...(await run.network.serveArgs())]);
  const readyMs = SERVE_READY_MS[run.network.tor ? 'tor' : 'loopback'];
  const deadline = Date.now() + readyMs;
  for (;;) {
    const log = await readFile(layout.log('serve'), 'utf8').catch(() => '');
    if (/listening on nats:\/\/127\.0\.0\.1:\d+/.test(log)) break;
    if (!run.processes.running('serve')) throw new OperationFailedError('demo-serve-failed', `onionfleet serve exited:\n${log.trim().split('\n').slice(-5).join('\n')}`, { hint: `see ${layout.log('serve')} (is nats-server installed? bash deploy/dev-deps.sh)` });
    if (Date.now() > deadline) throw new OperationFailedError('demo-serve-failed', `onionfleet serve did not listen within ${readyMs / 1000}s`, { hint: `see ${layout.log('serve')}` });
    await pause(100, run.signal);
  }
  const runtime = await readRuntime(statePaths(layout.controller));
  if (runtime === null) throw new OperationFailedError('demo-serve-failed', 'onionfleet serve listens but wrote no runtime file', { hint: `see ${layout.log('serve')}` });
  await run.processes.record('nats-server', 'nats-server', runtime.pid);
  if (run.network.tor) {
    // serve started its tor before it listened: the runtime file is there by now.
    const tor = await readTorRuntime(statePaths(layout.controller));
    if (tor === null) throw new OperationFailedError('demo-serve-failed', 'onionfleet serve --tor listens but runs no tor', { hint: `see ${layout.log('serve')} and ${statePaths(layout.controller).tor}/notice.log` });
    await run.processes.record('tor-controller', 'controller-tor', tor.pid);
  }
  return runtime.url;
}

/**
 * Per Pi, in parallel: starts its part of the network (over Tor, its own tor), writes its agent
 * config and makes its keys (`onionfleet-agent init`); then registers each (`device add`) and waits
 * until the network's part of every Pi is ready.
 */
async function enrollDevices(run: DemoRun, natsUrl: string): Promise<void> {
  const { layout } = run;
  const identity = await loadIdentity(statePaths(layout.controller));
  const offsets = await choosePortOffsets(DEMO_DEVICES.length);
  await Promise.all(DEMO_DEVICES.map(async (d, i) => {
    const paths = layout.device(d.id);
    await mkdir(paths.dir, { recursive: true, mode: 0o700 });
    const network = await run.network.device(d.id, natsUrl);
    await writeFileAtomic(paths.config, `${JSON.stringify(agentConfig(layout, d.id, offsets[i] ?? 0, identity, network), null, 2)}\n`);
    const name = `agent-init-${d.id}`;
    const init = checked(run, name, await run.processes.run(name, DEMO_BINS.agent, ['init', '--device', d.id, '--config', paths.config]), 'onionfleet-agent init', [0], false);
    await writeFileAtomic(paths.record, init.stdout);
  }));
  // One at a time: each registration re-renders the NATS users and waits for the server's reload.
  for (const d of DEMO_DEVICES) {
    await onionfleet(run, `device-add-${d.id}`, ['device', 'add', '--id', d.id, '--record', layout.device(d.id).record, '--state', layout.controller]);
    run.progress(`      ${d.id} (${d.operator}, ${d.location}, ${d.jurisdiction}): keys made on the Pi, registered; root ${rel(layout, layout.device(d.id).root)}/${run.network.tor ? `, its tor ${rel(layout, layout.device(d.id).tor)}/` : ''}`);
  }
  await run.network.devicesReady();
}

/**
 * `onionfleet probe --json` until its verdict is ok (or alarm, which waiting does not change), or
 * the deadline: right after convergence tor may still be publishing the Pis' onions. Shows each
 * group's verdict line; returns the last report.
 */
async function probeFleet(run: DemoRun): Promise<ProbeJson> {
  const deadline = Date.now() + PROBE_MS;
  for (let attempt = 1; ; attempt++) {
    const out = await onionfleet(run, 'probe', ['probe', '--state', run.layout.controller, '--json', '--timeout', String(PROBE_TIMEOUT_S)], { process: true }, [0, 1, 4, 5]);
    const report = parseJsonOutput(ProbeJson, out.stdout, 'onionfleet probe', run.layout.log('probe'));
    if (report.verdict === 'ok' || report.verdict === 'alarm' || Date.now() > deadline) {
      for (const g of report.groups) run.progress(`      → ${g.summary}`);
      for (const d of report.devices) run.progress(`      not probed: ${d.device}: ${d.problem}`);
      run.progress(`      verdict: ${report.verdict}${attempt > 1 ? ` (probe ${attempt})` : ''}`);
      return report;
    }
    run.progress(`      probe ${attempt}: ${report.verdict} (${report.groups.map((g) => `${g.group} ${g.verdict}`).join(', ')}) — tor may still be publishing the Pis' onions; probing again…`);
    await forgetOnions(run.layout.controller);
    await pause(PROBE_PAUSE_MS, run.signal);
  }
}

/**
 * `onionfleet status --json` until every instance is healthy (a heartbeat may still catch one
 * mid-probe right after `apply --wait`), or the deadline; the last status either way.
 */
async function waitHealthy(run: DemoRun): Promise<StatusJson> {
  const deadline = Date.now() + HEALTHY_MS;
  for (;;) {
    const status = parseJsonOutput(StatusJson, (await onionfleet(run, 'status', ['status', '--state', run.layout.controller, '--json'], {}, [0, 1])).stdout, 'onionfleet status', run.layout.log('status'));
    if (allHealthy(status) || Date.now() > deadline) return status;
    await pause(1000, run.signal);
  }
}

/** Waits `ms`; @throws {DemoInterrupted} when `signal` aborts first (or has). */
async function pause(ms: number, signal: AbortSignal): Promise<void> {
  await new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
  if (signal.aborted) throw new DemoInterrupted();
}

function rel(layout: DemoLayout, path: string): string {
  return relative(layout.dir, path) || '.';
}
