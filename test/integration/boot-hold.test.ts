/**
 * The boot hold at the applier (docs/continuity.md, "A device that comes back"), under a temp root with
 * the applier behind a socket as on a Pi (see agent-applier.test.ts): after a "reboot" (the servers
 * stopped), `onionfleet-agent hold` leaves the onions of the instances whose group allows identity
 * copies out of tor's fragment and marks them held; going back is refused while they are held; the
 * uptime fallback releases only what ran out; the next document the controller signed releases the
 * rest — serving what it keeps here and archiving what it moved away.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ask } from '../../agent/applier/client.ts';
import { HELD_SUMMARY } from '../../agent/hold/markers.ts';
import { initAgentIdentity } from '../../agent/identity.ts';
import { readRecord } from '../../agent/record.ts';
import { PATHS, serviceName } from '../../agent/render/paths.ts';
import { seal } from '#shared/crypto/envelope.ts';
import { generateSigningKey } from '#shared/crypto/sign.ts';
import type { DesiredState } from '#shared/schema/desired-state.ts';
import { desiredState } from '../builders/desired.ts';
import { applierSocket, type ApplierSocket } from '../support/applier-socket.ts';
import { BIN, runBin } from '../support/cli.ts';
import { alive, freePort, stopSupervised } from '../support/processes.ts';

const DOUBLES = new URL('../doubles/', import.meta.url).pathname;
const DEVICE = 'pi-hold';

let dir: string;
let root: string;
let config: string;
let socketPath: string;
let server: ApplierSocket;
const controller = generateSigningKey();
let recipient: string;
let desired: DesiredState;
/** Held until the controller confirms it (`forever`), and held for a minute of uptime. */
let forever = '';
let minute = '';

const sealAs = (doc: DesiredState) => seal({ kind: 'desired-state', device: DEVICE, revision: doc.revision, body: doc }, { signingSecretKey: controller.secretKey, recipient });
const applyRequest = async (doc: DesiredState) => ask(socketPath, { op: 'apply', sealed: Buffer.from(await sealAs(doc)).toString('base64') });
const fragment = () => readFileSync(join(root, PATHS.torrcFragment), 'utf8');
const served = (id: string) => fragment().includes(`${root}${PATHS.onionDir(id)}\n`);
const held = (id: string) => existsSync(join(root, PATHS.heldDir, id));
/** The instance's server runs (the supervisor's pid file names a live process). */
function running(id: string): boolean {
  const path = join(root, 'run/onionfleet', `${serviceName('smp', id)}.pid`);
  if (!existsSync(path)) return false;
  return alive((JSON.parse(readFileSync(path, 'utf8')) as { pid: number }).pid);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'onionfleet-hold-'));
  root = join(dir, 'root');
  const { record } = await initAgentIdentity(join(root, '/etc/onionfleet/keys'), DEVICE);
  recipient = record.ageRecipient;
  config = join(dir, 'agent.json');
  writeFileSync(config, JSON.stringify({
    root, services: 'supervisor', system: 'sandbox', device: DEVICE,
    binaries: { 'smp-server': join(DOUBLES, 'smp-server'), 'xftp-server': join(DOUBLES, 'xftp-server') },
    controller: { signingKey: controller.publicKey, ageRecipient: record.ageRecipient },
    nats: { url: 'nats://127.0.0.1:4222' },
  }));
  const base = desiredState({ groups: [{ id: 'copies', tier: 'high', smp: 2, xftp: 0 }, { id: 'single', tier: 'extreme', smp: 1, xftp: 0 }], device: DEVICE });
  const ports = await Promise.all(base.instances.map(() => freePort()));
  forever = 'copies-smp-01';
  minute = 'copies-smp-02';
  desired = {
    ...base,
    instances: base.instances.map((i, k) => ({
      ...i,
      localPort: ports[k] ?? 0,
      continuity: i.group === 'copies'
        ? { identityCopies: true, backupSeconds: 900, recipients: [recipient], holdAtBootSeconds: i.id === forever ? null : 60 }
        : { identityCopies: false, backupSeconds: 900, recipients: [recipient] },
    })),
    firewall: { loopbackOnlyPorts: [...ports, ...(base.ssh.overTor ? [22] : [])].sort((a, b) => a - b) },
  };
  socketPath = join(dir, 'apply.sock');
  server = await applierSocket(socketPath, config);
}, 60_000);

afterAll(async () => {
  await server.close();
  await stopSupervised(root);
}, 30_000);

describe('the boot hold', () => {
  it('holds back, after a reboot, exactly the instances whose group allows identity copies', async () => {
    expect(await applyRequest(desired)).toMatchObject({ kind: 'applied', converged: true });
    for (const i of desired.instances) expect(served(i.id)).toBe(true);
    // The reboot: the servers stop; then the hold runs before tor and the instances' units.
    await stopSupervised(root);
    const run = await runBin(BIN.agent, ['hold', '--config', config, '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({
      held: [{ id: forever, kind: 'smp', holdAtBootSeconds: null }, { id: minute, kind: 'smp', holdAtBootSeconds: 60 }],
      already: false, fragmentChanged: true,
    });
    expect(served(forever)).toBe(false);
    expect(served(minute)).toBe(false);
    expect(served('single-smp-01')).toBe(true); // a group without copies: nothing of it is served elsewhere
    expect(held(forever) && held(minute)).toBe(true);
    expect(held('single-smp-01')).toBe(false);
    expect(existsSync(join(root, PATHS.heldDir, HELD_SUMMARY))).toBe(true);
    // tor's applied configuration is forgotten: the release reloads tor once the onions are back.
    expect((await readRecord(root)).tor).toBeNull();
    // Once per boot: run again, nothing changes.
    const again = await runBin(BIN.agent, ['hold', '--config', config]);
    expect(again.stdout).toMatch(/^already held at this boot: copies-smp-01, copies-smp-02/);
  }, 120_000);

  it('does not go back while instances are held (that would serve them)', async () => {
    const at = (await readRecord(root)).revision;
    expect(await ask(socketPath, { op: 'good', revision: at })).toMatchObject({ noted: true });
    expect(await ask(socketPath, { op: 'revert', to: at })).toMatchObject({ kind: 'rejected', reason: 'held' });
    expect(served(minute)).toBe(false);
  }, 60_000);

  it('the uptime fallback releases only what ran out and serves it again from the last applied state', async () => {
    const uptime = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
    expect(uptime).toBeGreaterThan(60); // this machine booted more than a minute ago
    const answer = await ask(socketPath, { op: 'release' });
    expect(answer).toMatchObject({ kind: 'applied', revision: desired.revision, converged: true });
    expect(answer.kind === 'applied' ? answer.steps : []).toContainEqual(`start ${serviceName('smp', minute)}`);
    expect(answer.kind === 'applied' ? answer.steps : []).toContainEqual(expect.stringMatching(/^reload tor/));
    expect(served(minute)).toBe(true);
    expect(held(minute)).toBe(false);
    expect(running(minute)).toBe(true);
    // `forever`: only the controller releases it.
    expect(served(forever)).toBe(false);
    expect(held(forever)).toBe(true);
    expect(running(forever)).toBe(false);
    expect(await ask(socketPath, { op: 'release' })).toMatchObject({ kind: 'rejected', reason: 'not-due' });
  }, 120_000);

  it('the controller\'s next signed document releases the rest: what it moved away is archived, never served', async () => {
    // While this device was off, the controller moved `forever` (with its identity) elsewhere.
    const next = { ...desired, revision: desired.revision + 1, instances: desired.instances.filter((i) => i.id !== forever) };
    next.firewall = { loopbackOnlyPorts: [...next.instances.map((i) => i.localPort), ...(next.ssh.overTor ? [22] : [])].sort((a, b) => a - b) };
    const answer = await applyRequest(next);
    expect(answer).toMatchObject({ kind: 'applied', revision: next.revision, converged: true });
    expect(answer.kind === 'applied' ? answer.steps : []).toContainEqual(expect.stringMatching(new RegExp(`^archive ${forever} `)));
    expect(held(forever)).toBe(false);
    expect(served(forever)).toBe(false);
    expect(running(forever)).toBe(false);
    expect(readdirSync(join(root, PATHS.archive)).some((d) => d.includes(forever))).toBe(true);
    expect(served(minute) && running(minute)).toBe(true);
    expect(JSON.parse(readFileSync(join(root, PATHS.heldDir, HELD_SUMMARY), 'utf8'))).toMatchObject({
      released: [{ id: minute, by: 'uptime' }, { id: forever, by: 'controller' }],
    });
  }, 120_000);

  it('offline fleets: the operator\'s `onionfleet-agent apply` of a desired state releases the hold too', async () => {
    // The next boot: /run is empty again, the servers stopped; the hold runs.
    rmSync(join(root, PATHS.heldDir), { recursive: true, force: true });
    await stopSupervised(root);
    expect((await runBin(BIN.agent, ['hold', '--config', config])).stdout).toMatch(/^held 1 instance\(s\)/);
    expect(served(minute) || running(minute)).toBe(false);
    const next = { ...desired, revision: (await readRecord(root)).revision + 1, instances: desired.instances.filter((i) => i.id !== forever) };
    next.firewall = { loopbackOnlyPorts: [...next.instances.map((i) => i.localPort), ...(next.ssh.overTor ? [22] : [])].sort((a, b) => a - b) };
    const file = join(dir, 'next.json');
    writeFileSync(file, JSON.stringify(next));
    const run = await runBin(BIN.agent, ['apply', '--config', config, '--desired', file]);
    expect(run.code, run.stderr + run.stdout).toBe(0);
    expect(run.stderr).toContain(`released 1 instance held at boot: ${minute}`);
    expect(held(minute)).toBe(false);
    expect(served(minute) && running(minute)).toBe(true);
  }, 120_000);
});
