import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { parseFlags } from '#shared/cli/flags.ts';
import { plural, table, toJson, type Output } from '#shared/cli/output.ts';
import type { CliContext } from '#shared/cli/run-main.ts';
import { EXIT } from '#shared/errors.ts';
import { Id } from '#shared/schema/common.ts';
import { DEMO_DEVICES, DEMO_FLEET, DEMO_READER } from '../../demo/fleet.ts';
import { demoLayout, makeLogsDir, prepareDemoDir, type DemoLayout } from '../../demo/layout.ts';
import { loopbackNetwork, type DemoNetwork } from '../../demo/network.ts';
import { DemoProcesses } from '../../demo/processes.ts';
import { runDemo } from '../../demo/run.ts';
import { checkDemoBins } from '../../demo/setup.ts';
import type { DemoSummary } from '../../demo/summary.ts';
import { torNetwork } from '../../demo/tor-network.ts';

const Flags = z.object({
  dir: z.string().min(1).optional(),
  fleet: Id.default(DEMO_FLEET),
  tor: z.boolean().default(false),
  keep: z.boolean().default(false),
  force: z.boolean().default(false),
  json: z.boolean().default(false),
});

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * `onionfleet demo [--dir DIR] [--fleet NAME] [--tor] [--keep] [--force] [--json]`: the whole story on this machine
 * with the real parts — nats-server, one agent process per simulated Pi (the SimpleX servers are
 * test doubles), apply, convergence, status, member bundles — then stops everything it started.
 * `--tor` runs it over a private Tor network on loopback: NATS behind an onion service with
 * per-device client authorization, each Pi with its own tor serving its instances' onions, and
 * `onionfleet probe` through the controller's tor at the end. Ctrl-C at any point stops exactly
 * what was started (every tor too), keeps DIR, and exits 130. `--keep` leaves it all running until
 * Ctrl-C. Exit 2 for a DIR that is not empty (or a previous demo's, without --force); 1 when a step
 * fails, not every instance is healthy, or (`--tor`) the probe's verdict is not ok.
 */
export async function demoCommand(opts: unknown, ctx: CliContext): Promise<void> {
  const flags = parseFlags(Flags, opts);
  checkDemoBins();
  const layout = demoLayout(flags.dir ?? (await mkdtemp(join(tmpdir(), 'onionfleet-demo-'))));
  if (flags.dir !== undefined) await prepareDemoDir(layout, flags.force);
  const progress = (line: string) => { ctx.output.err(line); };
  const interrupt = interruptOnSignals(progress);
  const processes = new DemoProcesses(layout, interrupt.signal);
  const devices = DEMO_DEVICES.map((d) => d.id);
  const network: DemoNetwork = flags.tor
    ? torNetwork({ layout, devices, signal: interrupt.signal, progress, record: (name, pid) => processes.record(name, 'tor', pid) })
    : loopbackNetwork();
  const cli = (args: readonly string[], output: Output) => ctx.run(args, output);
  let interrupted = false;
  try {
    processes.setDevices(devices);
    await processes.begin();
    await makeLogsDir(layout, devices, network.logLinks);
    progress(`onionfleet demo in ${layout.dir} (every process's log in ${layout.logs}/)`);
    progress(`note: smp-server and xftp-server are TEST DOUBLES (test/doubles/) standing in for the real SimpleX servers, which cannot be built here; nats-server, ${flags.tor ? 'tor, ' : ''}the agents, the keys and age are real`);
    const result = await runDemo({ layout, network, processes, signal: interrupt.signal, progress, show: flags.json ? null : (text) => { ctx.output.out(text); }, cli, fleet: flags.fleet });
    const ok = result.healthy && (result.probe === null || result.probe === 'ok');
    if (!ok) ctx.setExitCode(EXIT.failed);
    ctx.output.out(flags.json ? toJson(result.summary) : doneText(result.summary, ok));
    if (flags.keep) {
      progress(whereText(layout, result.natsUrl, flags.tor));
      await new Promise<void>((resolve) => { interrupt.signal.addEventListener('abort', () => { resolve(); }, { once: true }); });
    } else {
      progress('stopping everything the demo started (--keep leaves it running)…');
    }
  } catch (err) {
    if (!interrupt.signal.aborted) throw err;
    interrupted = true;
  } finally {
    const stopped = (await processes.stopAll()) + (await network.stop());
    interrupt.dispose();
    progress(`stopped ${plural(stopped, 'process', 'processes')}; everything the demo wrote stays in ${layout.dir}`);
    progress(`  it holds every private key of the demo (the controller's, each Pi's, the members'): remove it when you are done — rm -rf ${layout.dir}`);
  }
  if (interrupted) ctx.setExitCode(EXIT.interrupted);
}

/**
 * Ctrl-C, SIGTERM and SIGHUP abort the returned signal (the demo then stops what it started);
 * later ones only say that it is still stopping. `dispose` restores the default handling.
 */
function interruptOnSignals(progress: (line: string) => void): { signal: AbortSignal; dispose: () => void } {
  const abort = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    progress(abort.signal.aborted ? 'still stopping (each process gets a few seconds, then SIGKILL)…' : `${signal}: stopping everything the demo started…`);
    abort.abort();
  };
  for (const s of SIGNALS) process.on(s, onSignal);
  return { signal: abort.signal, dispose: () => { for (const s of SIGNALS) process.off(s, onSignal); } };
}

function doneText(s: DemoSummary, ok: boolean): string {
  const probe = s.probe === undefined ? '' : `, over onions (probe: ${s.probe})`;
  return `\n${ok ? 'done' : `done, but not every instance is ${s.probe === undefined ? 'healthy' : 'healthy and reachable'} (see above)`}: ${plural(s.devices, 'device')}, ${s.healthy}/${plural(s.instances, 'instance')} healthy${probe}, ${plural(s.bundles.length, 'bundle')}, in ${s.seconds}s`;
}

/** Where everything is while `--keep` runs, and what to try (paths and public fingerprints only). */
function whereText(layout: DemoLayout, natsUrl: string, tor: boolean): string {
  const id = DEMO_DEVICES[0]?.id ?? 'pi-1';
  return [
    '',
    `running until Ctrl-C — NATS at ${natsUrl}; look inside ${layout.dir}:`,
    table([
      ['fleet.yaml', 'the demo fleet'],
      [`devices/${id}/root/`, "a simulated Pi's files: etc/opt/simplex*/<instance>/ (ca.crt, fingerprint), var/lib/tor/onionfleet/<instance>/ (hostname)"],
      ['members/<member>.key', "the members' age identities"],
      ['bundles/<member>.age', 'their bundles (+ .age.sig: the SSH signature; <member>.html.age: the printable page)'],
      ['controller/', "the controller's state"],
      ...(tor ? [['tor/', 'the private Tor network (authorities, relays)'], [`devices/${id}/tor/`, "a Pi's own tor"]] : []),
      ['logs/', `every process's log${tor ? " (tor's in logs/tor/)" : ''}`],
    ]),
    'try:',
    `  npx onionfleet status --state ${layout.controller}`,
    `  npx onionfleet metrics -f ${layout.fleet} --state ${layout.controller}     # /metrics on 127.0.0.1:9469, and alerts`,
    `  npx onionfleet ui -f ${layout.fleet} --state ${layout.controller}          # the dashboard (open the URL it prints)`,
    ...(tor ? [`  npx onionfleet probe --state ${layout.controller}`] : []),
    `  age -d -i ${layout.memberKey(DEMO_READER)} ${layout.bundle(DEMO_READER)}`,
    `  npx onionfleet-agent status --config ${layout.device(id).config}`,
  ].join('\n');
}
