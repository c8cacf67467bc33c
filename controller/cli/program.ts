/**
 * The `onionfleet` program: every verb, its options and its help. Wiring only: each verb lives in
 * commands/<verb>.ts and is loaded when it runs, so `--help` stays instant. Options that many verbs
 * share come from options.ts; `--debug` is the program's own and works after any verb.
 */
import { Command, Option } from 'commander';
import type { CliContext } from '#shared/cli/run-main.ts';
import { ONIONFLEET_VERSION } from '#shared/version.ts';
import { options } from './options.ts';
import { continuityVerbs } from './continuity-verbs.ts';

export function buildProgram(ctx: CliContext): Command {
  const program = new Command('onionfleet')
    .description('Plan, apply and watch a fleet of private SimpleX servers on Tor-only Raspberry Pis.')
    .version(ONIONFLEET_VERSION)
    .addOption(new Option('--debug', 'print stack traces for errors (after any verb too)'))
    .showHelpAfterError('(run with --help for usage)');
  fleetVerbs(program, ctx);
  deviceVerbs(program, ctx);
  continuityVerbs(program, ctx);
  tokenVerbs(program, ctx);
  busVerbs(program, ctx);
  bundleVerbs(program, ctx);
  demoVerbs(program, ctx);
  return program;
}

/** `validate`, `plan`, `init`, `desired`: the fleet file and the controller's state, no bus. */
function fleetVerbs(program: Command, ctx: CliContext): void {
  program
    .command('validate')
    .description('check a fleet.yaml; writes nothing (exit 0 valid, 2 invalid)')
    .addOption(options.fleet())
    .addOption(options.json())
    .action(async (opts: unknown) => (await import('./commands/validate.ts')).validate(opts, ctx));

  program
    .command('plan')
    .description('place instances on devices and show the diff; publishes nothing (exit 0 feasible, 3 infeasible, 2 invalid)')
    .addOption(options.fleet())
    .option('--previous <PLAN>', 'a plan written earlier by `plan --json --out`; instances stay where they are')
    .option('--deployed', 'diff against what the last `apply` deployed (read from JetStream; needs `serve`)')
    .addOption(options.state('with --deployed'))
    .addOption(options.passphrase('with --deployed: the passphrase of the controller\'s state'))
    .option('--rebalance', 'permit optional moves that improve spread (moved instances get new addresses)')
    .addOption(options.json('the plan (fleet-yaml.md, "onionfleet plan --json")'))
    .option('--out <PLAN>', 'also write the plan as JSON to this file')
    .action(async (opts: unknown) => (await import('./commands/plan.ts')).planCommand(opts, ctx));

  program
    .command('init')
    .description("create the controller's state: signing key, age identity, NATS nkey (files 0600)")
    .addOption(options.state())
    .addOption(options.passphrase('protect every secret of the new state with this passphrase (or ONIONFLEET_PASSPHRASE)'))
    .addOption(options.json('the identity'))
    .action(async (opts: unknown) => (await import('./commands/init.ts')).initCommand(opts, ctx));

  program
    .command('desired')
    .description("write one device's desired state (unsealed; the offline path and a debugging aid)")
    .addOption(options.fleet())
    .requiredOption('--device <ID>', 'the device')
    .requiredOption('--out <FILE>', 'where to write it (mode 0600)')
    .option('--previous <PLAN>', 'the plan the fleet runs now (instances stay where they are)')
    .option('--previous-desired <FILE>', "the device's last desired state (passwords and ports carry over)")
    .addOption(options.json('the summary'))
    .action(async (opts: unknown) => (await import('./commands/desired.ts')).desiredCommand(opts, ctx));
}

/** `device add|list|approve|reject|drain|revoke`: the devices and their lifecycle. */
function deviceVerbs(program: Command, ctx: CliContext): void {
  const device = program.command('device').description('enrolled devices');
  device
    .command('add')
    .description("register a device and its NATS user: from its enrollment record (onionfleet-agent init), or by enrolling it over SSH")
    .requiredOption('--id <ID>', 'the device id')
    .option('--record <FILE>', 'its enrollment record (one of --record and --ssh)')
    .option('--ssh <USER@HOST[:PORT]>', 'enroll over SSH: install the agent, make its keys there, register it, start it')
    .option('--operator <OP>', 'the operator who owns the device (required with --ssh)')
    .option('--socks <HOST:PORT>', "reach the host through this SOCKS5 proxy (default for .onion hosts: the controller's tor from `serve --tor`, else 127.0.0.1:9050)")
    .option('--identity <KEY>', 'SSH private key, without passphrase (default ~/.ssh/id_ed25519)')
    .option('--host-key <SHA256:…>', "the host's key fingerprint (ssh-keygen -lf); else shown for confirmation on a terminal")
    .option('--nats-url <URL>', "the agent's nats.url (default: the controller's NATS onion)")
    .option('--agent-bundle <FILE>', 'the single-file agent (default deploy/dist/onionfleet-agent.mjs: npm run build:agent)')
    .addOption(new Option('--remote-root <DIR>', 'install below DIR on the device (tests, the demo)').hideHelp())
    .addOption(options.state())
    .addOption(options.json())
    .action(async (opts: unknown) => (await import('./commands/device-add.ts')).deviceAdd(opts, ctx));
  device
    .command('list')
    .description('registered devices and their key fingerprints')
    .addOption(options.state())
    .addOption(options.json('the list'))
    .action(async (opts: unknown) => (await import('./commands/device-list.ts')).deviceList(opts, ctx));
  device
    .command('approve')
    .description('register a device that joined with a token (state pending) and open the bus to it')
    .argument('<ID>', 'the pending device')
    .option('--fingerprint <FPR>', 'approve only if its signing key has this fingerprint (SHA256:…, as the device printed it)')
    .addOption(options.state())
    .addOption(options.json())
    .action(async (id: unknown, opts: unknown) => (await import('./commands/device-approve.ts')).deviceApprove(id, opts, ctx));
  device
    .command('reject')
    .description('forget a pending device; its keys are never registered')
    .argument('<ID>', 'the pending device')
    .addOption(options.state())
    .addOption(options.json())
    .action(async (id: unknown, opts: unknown) => (await import('./commands/device-approve.ts')).deviceReject(id, opts, ctx));

  device
    .command('drain')
    .description('move every instance off a device: replacements first, its instances stop only once they are healthy')
    .argument('<ID>', 'the device')
    .addOption(options.fleet())
    .addOption(options.state())
    .addOption(options.passphrase())
    .addOption(options.timeout('give up after this many seconds (nothing is stopped if the replacements are not healthy)', 600))
    .addOption(options.json())
    .action(async (id: string, opts: object) => (await import('./commands/device-drain.ts')).deviceDrain({ ...opts, id }, ctx));
  device
    .command('revoke')
    .description('cut a device off at once (NATS user and onion client key removed), then re-place its instances')
    .argument('<ID>', 'the device')
    .addOption(options.fleet())
    .addOption(options.state())
    .addOption(options.passphrase())
    .option('--wait', 'wait until the fleet has converged without it')
    .addOption(options.timeout('with --wait: give up after this many seconds', 300))
    .addOption(options.json())
    .action(async (id: string, opts: object) => (await import('./commands/device-revoke.ts')).deviceRevoke({ ...opts, id }, ctx));
}

/** `token create|list`: join tokens for devices of other operators. */
function tokenVerbs(program: Command, ctx: CliContext): void {
  const token = program.command('token').description('single-use join tokens for devices of other operators');
  token
    .command('create')
    .description('make a join token for one device of OP and print it (a secret: hand it over as a file)')
    .requiredOption('--operator <OP>', 'the operator the device belongs to')
    .option('--expires <DURATION>', 'lifetime: s, m, h or d, at most 30d', '24h')
    .option('--nats-url <URL>', "the NATS url the device dials (default: the controller's NATS onion)")
    .addOption(options.state())
    .addOption(options.json())
    .action(async (opts: unknown) => (await import('./commands/token.ts')).tokenCreate(opts, ctx));
  token
    .command('list')
    .description('join tokens: id, operator, expiry, state (live, used, expired); no secrets')
    .addOption(options.state())
    .addOption(options.json('the list'))
    .action(async (opts: unknown) => (await import('./commands/token.ts')).tokenList(opts, ctx));
}

/** `rollout status|pause|resume|abort`: the rollout an apply started (docs/rollouts.md). */
function rolloutVerbs(program: Command, ctx: CliContext): void {
  const rollout = program.command('rollout').description('the rollout of the last apply: waves, health gates, pause, resume, abort');
  rollout
    .command('status')
    .description('the rollout: its waves, where it is, what it waits on or why it halted')
    .addOption(options.state())
    .addOption(options.json())
    .action(async (opts: unknown) => (await import('./commands/rollout-status.ts')).rolloutStatus(opts, ctx));
  rollout
    .command('pause')
    .description('start no further wave (the current one finishes its gate)')
    .addOption(options.state())
    .addOption(options.json())
    .action(async (opts: unknown) => (await import('./commands/rollout-pause.ts')).rolloutPause(opts, ctx));
  rollout
    .command('resume')
    .description('drive the rollout on from its current wave, through each health gate (after a pause, a halt or a killed controller)')
    .addOption(options.state())
    .addOption(options.passphrase())
    .addOption(options.timeout('how long to drive it, in seconds', 3600))
    .addOption(options.json('rollout events as JSON lines'))
    .action(async (opts: unknown) => (await import('./commands/rollout-resume.ts')).rolloutResume(opts, ctx));
  rollout
    .command('abort')
    .description('stop the rollout and give the devices it changed back what they ran before')
    .addOption(options.state())
    .addOption(options.passphrase())
    .option('--wait', 'wait until those devices report their previous state again, healthy')
    .addOption(options.timeout('how long --wait waits, in seconds', 300))
    .addOption(options.json())
    .action(async (opts: unknown) => (await import('./commands/rollout-abort.ts')).rolloutAbort(opts, ctx));
}

/** `serve`, `apply`, `status`, `probe`: the running fleet. */
function busVerbs(program: Command, ctx: CliContext): void {
  program
    .command('serve')
    .description('run the NATS server (JetStream, 127.0.0.1 only, one user per device) until Ctrl-C')
    .addOption(options.state())
    .option('--port <N>', 'client port on 127.0.0.1 (0: any free port)', '4222')
    .addOption(options.passphrase())
    .option('--tor', "also run the controller's tor: NATS published as an onion service with per-device client authorization")
    .option('--tor-config <FILE>', 'with --tor: extra torrc lines (e.g. a private test network)')
    .action(async (opts: unknown) => (await import('./commands/serve.ts')).serveCommand(opts, ctx));

  program
    .command('metrics')
    .description("serve the fleet's Prometheus /metrics on 127.0.0.1 and evaluate the alert rules until Ctrl-C (--once: one round)")
    .addOption(options.fleet())
    .addOption(options.state())
    .addOption(options.passphrase())
    .option('--port <N>', 'port on 127.0.0.1 (0: any free port)', '9469')
    .option('--alerts <FILE>', 'the alert rules and channels (YAML; default: every rule with its defaults, no channel)')
    .option('--once', 'one round: print the exposition (or --json: groups and firing alerts) and exit; 1 when an alert fires')
    .addOption(options.json('with --once: the groups and the firing alerts'))
    .action(async (opts: unknown) => (await import('./commands/metrics.ts')).metricsCommand(opts, ctx));

  program
    .command('ui')
    .description('a live dashboard of the fleet on 127.0.0.1, at a URL with a random token (printed), until Ctrl-C')
    .addOption(options.fleet())
    .addOption(options.state())
    .addOption(options.passphrase())
    .option('--port <N>', 'port on 127.0.0.1 (default 0: any free port)', '0')
    .option('--alerts <FILE>', 'the alert rules to show (as for `metrics`; nothing is delivered from here)')
    .addOption(options.json('the URL'))
    .action(async (opts: unknown) => (await import('./commands/ui.ts')).uiCommand(opts, ctx));

  program
    .command('apply')
    .description('plan, compile, seal and publish desired states (exit 0, 1, 2, 3 infeasible, 4 unreachable)')
    .addOption(options.fleet())
    .addOption(options.state())
    .addOption(options.passphrase())
    .option('--wait', 'wait until every device reports the new revision, healthy')
    .addOption(options.timeout('how long --wait waits, in seconds', 300))
    .option('--offline', 'write sealed desired states as files instead of publishing (needs --out)')
    .option('--out <DIR>', 'where --offline writes')
    .option('--strategy <S>', 'rolling (waves that keep every group up; default) or all-at-once')
    .option('--canary <N>', 'devices in the first wave (default: per tier, docs/rollouts.md)')
    .option('--max-unavailable <N>', 'devices of one group changing at once (default: per tier)')
    .option('--soak <S>', 'seconds each wave must stay healthy before the next (default: per tier)')
    .addOption(options.json('rollout events as JSON lines, then the summary'))
    .action(async (opts: unknown) => (await import('./commands/apply.ts')).applyCommand(opts, ctx));

  rolloutVerbs(program, ctx);

  program
    .command('status')
    .description('per device and per group: revisions, healthy instances, heartbeat, problems')
    .addOption(options.state())
    .addOption(options.passphrase())
    .option('--watch', 'print again on every change')
    .addOption(options.json('the status'))
    .action(async (opts: unknown) => (await import('./commands/status.ts')).statusCommand(opts, ctx));

  program
    .command('probe')
    .description("connect to every instance's onion through Tor and check its pinned identity (exit 0 ok, 1 degraded or ALARM — wrong identity, see --json verdict —, 4 unreachable)")
    .addOption(options.state('the pins are kept in DIR/pins.json'))
    .addOption(options.passphrase())
    .option('--socks <HOST:PORT>', "Tor's SOCKS port (default: the controller's tor from `serve --tor`, else 127.0.0.1:9050)")
    .option('--group <G>', 'only this group')
    .addOption(options.timeout('deadline per instance, in seconds', 60))
    .addOption(options.json('the report'))
    .action(async (opts: unknown) => (await import('./commands/probe.ts')).probeCommand(opts, ctx));
}

/** `bundle export|signer|open|trust|untrust|trusted`: the members' side. */
function bundleVerbs(program: Command, ctx: CliContext): void {
  const bundle = program.command('bundle').description("members' server bundles: signed, encrypted to each member");
  bundle
    .command('export')
    .description('write one signed, encrypted bundle per member of a group (DIR/<member>.age, 0600) and its SSH signature (.age.sig); exit 1 when an instance reports no address yet')
    .requiredOption('--group <G>', 'the group')
    .requiredOption('--out <DIR>', 'where to write the bundles')
    .addOption(options.fleet('the fleet.yaml (groups and members)'))
    .addOption(options.state())
    .addOption(options.passphrase())
    .option('--member-passphrases <FILE>', '`member: passphrase` lines for passphrase members (others get a generated one, printed once); not inside --out')
    .option('--qr <MODE>', 'QR codes of the addresses: png (DIR/<member>/qr/<instance>.png), terminal or none', 'none')
    .option('--statuses <DIR>', 'an offline fleet: the devices\' sealed status files (<device>.status.age, from `onionfleet-agent seal-status`) instead of the bus')
    .option('--page', "also each member's printable page: servers, one QR code per address, settings, retire list (DIR/<member>.html.age, encrypted like the bundle, + .sig)")
    .addOption(options.json())
    .action(async (opts: unknown) => (await import('./commands/bundle-export.ts')).bundleExport(opts, ctx));
  bundle
    .command('signer')
    .description('the allowed_signers line (and fingerprint) to give members once: they check bundles with `ssh-keygen -Y verify`')
    .addOption(options.fleet('the fleet.yaml (its name is the principal)'))
    .addOption(options.state())
    .addOption(options.json('the line, the key and its fingerprints'))
    .action(async (opts: unknown) => (await import('./commands/bundle-signer.ts')).bundleSigner(opts, ctx));
  bundle
    .command('open')
    .description("check a bundle's signatures, decrypt it and print its servers; the signer must be the key trusted for its fleet (recorded on first use); exit 2 when altered or foreign")
    .argument('<FILE>', 'the bundle (DIR/<member>.age); its SSH signature FILE.sig is checked when it is there')
    .option('-i, --identity <FILE>', 'your age identity file (from age-keygen)')
    .option('--passphrase-file <FILE>', 'a file whose first line is your bundle passphrase (without -i or this, a terminal asks for it)')
    .option('--controller-key <KEY>', "the controller's fingerprint (SHA256:…) or key (ssh-ed25519 AAAA…); default: the key trusted for the bundle's fleet")
    .option('--signature <SIG>', 'the SSH signature of FILE (default FILE.sig)')
    .option('--qr <MODE>', 'terminal: also draw each address as a QR code', 'none')
    .addOption(options.json('the servers'))
    .action(async (file: unknown, opts: unknown) => (await import('./commands/bundle-open.ts')).bundleOpen(file, opts, ctx));
  bundle
    .command('trust')
    .description("trust a fleet's controller key from now on (replacing the one it had): an allowed_signers FILE from `bundle signer`, or --fleet and --key")
    .argument('[FILE]', 'an allowed_signers file, as `onionfleet bundle signer` prints it')
    .option('--fleet <NAME>', 'the fleet')
    .option('--key <KEY>', "its controller's key: ssh-ed25519 AAAA…")
    .addOption(options.json())
    .action(async (file: unknown, opts: unknown) => (await import('./commands/bundle-trust.ts')).bundleTrust(file, opts, ctx));
  bundle
    .command('untrust')
    .description("forget a fleet's controller key (its next bundle is trusted on first use again); exit 2 when not trusted")
    .argument('<FLEET>', 'the fleet')
    .addOption(options.json())
    .action(async (fleet: unknown, opts: unknown) => (await import('./commands/bundle-untrust.ts')).bundleUntrust(fleet, opts, ctx));
  bundle
    .command('trusted')
    .description('the fleets whose bundles this machine accepts, with their controllers\' fingerprints')
    .addOption(options.json('the fleets'))
    .action(async (opts: unknown) => (await import('./commands/bundle-trusted.ts')).bundleTrusted(opts, ctx));
}

/** `demo`: the whole story on this machine (fenced in controller/demo/). */
function demoVerbs(program: Command, ctx: CliContext): void {
  program
    .command('demo')
    .description('the whole story on this machine: nats-server, 4 simulated Pis (agents; SimpleX test doubles), apply, status, bundles; stops it all on exit or Ctrl-C (130)')
    .option('--dir <DIR>', 'the demo directory (new or empty; default: a new temporary one)')
    .option('--fleet <NAME>', "the demo fleet's name (default demo): members trust bundles per fleet, so two demos with two names share a member's machine")
    .option('--tor', 'over a private Tor network on this machine: NATS as an onion with client authorization, a tor per Pi, then `probe` (a few minutes)')
    .option('--keep', 'leave everything running until Ctrl-C')
    .option('--force', 'reuse the directory of a previous demo (its files are deleted)')
    .addOption(options.json('the final summary (progress on stderr)'))
    .action(async (opts: unknown) => (await import('./commands/demo.ts')).demoCommand(opts, ctx));
}
