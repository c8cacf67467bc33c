/**
 * The agent's privilege split (agent/applier/), as on a Pi but under a temp root: a UNIX socket whose
 * every connection runs `onionfleet-agent applier` with the connection as its standard input and
 * output — what systemd's onionfleet-apply.socket (`Accept=yes`) does. The applier opens each sealed
 * document itself: what the controller signed for this device is applied and published for the
 * agent's status; a document signed by anyone else, or older than applied, changes nothing.
 */
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ask } from '../../agent/applier/client.ts';
import { viewRoot } from '../../agent/applier/view.ts';
import { initAgentIdentity } from '../../agent/identity.ts';
import { readRecord } from '../../agent/record.ts';
import { PATHS } from '../../agent/render/paths.ts';
import { createHash, randomBytes } from 'node:crypto';
import { open, seal } from '#shared/crypto/envelope.ts';
import { generateAgeIdentity } from '#shared/crypto/age.ts';
import { BackupBody } from '#shared/schema/identity.ts';
import { BACKUP_KIND, BACKUP_STATE, backupSlot } from '../../agent/backup/sender.ts';
import { carriesBase } from '../../agent/applier/protocol.ts';
import { metricsFilePath } from '../../agent/metrics/collector.ts';
import { generateSigningKey } from '#shared/crypto/sign.ts';
import type { DesiredState } from '#shared/schema/desired-state.ts';
import { desiredState } from '../builders/desired.ts';
import { applierSocket, type ApplierSocket } from '../support/applier-socket.ts';
import { DOWNLOAD_PART_BYTES, downloadFor, refOf, RESTORE_PART_KIND } from '#shared/schema/store-log-download.ts';
import { freePort, stopSupervised } from '../support/processes.ts';

const DOUBLES = new URL('../doubles/', import.meta.url).pathname;
const DEVICE = 'pi-split';

let dir: string;
let root: string;
let socketPath: string;
let server: ApplierSocket;
const controller = generateSigningKey();
let recipient: string;
let desired: DesiredState;
let deviceSigningKey: string;
let backupReader: { identity: string; recipient: string };

const sealAs = (doc: DesiredState, signingSecretKey = controller.secretKey, device = DEVICE) =>
  seal({ kind: 'desired-state', device, revision: doc.revision, body: doc }, { signingSecretKey, recipient });
const applyRequest = async (sealed: Uint8Array) => ask(socketPath, { op: 'apply', sealed: Buffer.from(sealed).toString('base64') });

/** The backups an applier's answer carries: their slots, and the first one opened with the offline key (signed by the device). */
async function backupsIn(answer: Awaited<ReturnType<typeof applyRequest>>): Promise<{ slots: string[]; body: BackupBody }> {
  const backups = answer.kind === 'applied' ? answer.backups : [];
  // The identity backup comes last, after the store-log chain's parts (`<slot>.b000`…) it names.
  const identity = backups.find((b) => !b.slot.includes('.'));
  const { body } = await open(new Uint8Array(Buffer.from(identity?.sealed ?? '', 'base64')), { identity: backupReader.identity, signer: deviceSigningKey, kind: BACKUP_KIND, device: DEVICE, schema: BackupBody });
  expect(backups[backups.length - 1]).toBe(identity);
  return { slots: backups.map((b) => b.slot).filter((slot) => !slot.includes('.')), body };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'onionfleet-applier-'));
  root = join(dir, 'root');
  const { record } = await initAgentIdentity(join(root, '/etc/onionfleet/keys'), DEVICE);
  recipient = record.ageRecipient;
  deviceSigningKey = record.signingKey;
  backupReader = await generateAgeIdentity();
  const config = join(dir, 'agent.json');
  writeFileSync(config, JSON.stringify({
    root, services: 'supervisor', system: 'sandbox', device: DEVICE,
    binaries: { 'smp-server': join(DOUBLES, 'smp-server'), 'xftp-server': join(DOUBLES, 'xftp-server') },
    controller: { signingKey: controller.publicKey, ageRecipient: record.ageRecipient },
    nats: { url: 'nats://127.0.0.1:4222' },
    metrics: { intervalSeconds: 1 }, // the double rewrites its metrics file every second
  }));
  const base = desiredState({ groups: [{ id: 'newsroom', tier: 'elevated', smp: 1, xftp: 0 }], device: DEVICE });
  const ports = await Promise.all(base.instances.map(() => freePort()));
  desired = {
    ...base,
    // Identity copies allowed (the elevated tier's default): the applier seals the backups.
    instances: base.instances.map((i, k) => ({ ...i, localPort: ports[k] ?? 0, continuity: { identityCopies: true, backupSeconds: 1800, recipients: [backupReader.recipient] } })),
    firewall: { loopbackOnlyPorts: [...ports, ...(base.ssh.overTor ? [22] : [])].sort((a, b) => a - b) },
  };
  socketPath = join(dir, 'apply.sock');
  // One applier process per connection, the connection as its stdin and stdout: systemd's Accept=yes.
  server = await applierSocket(socketPath, config);
}, 60_000);

afterAll(async () => {
  await server.close();
  await stopSupervised(root);
}, 30_000);

describe('the root applier behind a socket', () => {
  it('applies what the controller signed for this device and publishes what the status reads', async () => {
    const answer = await applyRequest(await sealAs(desired));
    expect(answer).toMatchObject({ kind: 'applied', revision: desired.revision, converged: true, refused: null });
    expect(answer.kind === 'applied' ? answer.steps : []).toContainEqual(expect.stringMatching(/^init smp instance newsroom-smp-01$/));
    // The view holds the record, the desired state and the instance's onion and certificate, as the status reads them.
    const view = viewRoot(root);
    expect((await readRecord(view)).revision).toBe(desired.revision);
    const id = desired.instances[0]?.id ?? '';
    expect(readFileSync(join(view, PATHS.onionDir(id), 'hostname'), 'utf8')).toBe(readFileSync(join(root, PATHS.onionDir(id), 'hostname'), 'utf8'));
    expect(readFileSync(join(view, PATHS.configDir('smp', id), 'fingerprint'), 'utf8')).toMatch(/\S/);
    // Readable by the agent's group (root:onionfleet on a Pi), writable by root only, whatever the umask.
    for (const path of [view, join(view, PATHS.onionDir(id)), join(view, 'var/lib/onionfleet')]) expect(statSync(path).mode & 0o777).toBe(0o750);
    for (const path of [join(view, PATHS.agentState), join(view, PATHS.onionDir(id), 'hostname')]) expect(statSync(path).mode & 0o777).toBe(0o640);
    // The new identity's backup, sealed by the applier (it reads the onion key and the server's keys),
    // signed with the device's key, for the agent to send; its age is current.
    expect(answer.kind === 'applied' ? answer.backupAgeSeconds : null).toBe(0);
    const { slots, body } = await backupsIn(answer);
    expect(slots).toEqual([backupSlot(DEVICE, id)]);
    expect(body).toMatchObject({ device: DEVICE, reason: 'identity', identity: { instance: id } });
  }, 120_000);

  it('refreshes the view with the metrics file the server rewrites, and sends a backup only when one is due', async () => {
    const id = desired.instances[0]?.id ?? '';
    const copy = join(viewRoot(root), metricsFilePath({ kind: 'smp', id }));
    let answer = await ask(socketPath, { op: 'refresh' });
    // The double writes its first file after one interval: ask again until the view has it.
    for (let tries = 0; !existsSync(copy) && tries < 60; tries++) {
      await new Promise<void>((resolve) => { setImmediate(resolve); });
      answer = await ask(socketPath, { op: 'refresh' });
    }
    expect(readFileSync(copy, 'utf8')).toMatch(/^simplex_smp_info/m);
    expect(statSync(copy).mode & 0o777).toBe(0o640);
    expect(answer).toMatchObject({ kind: 'refreshed', backups: [], backupAgeSeconds: 0 }); // the identity went out with the apply
  }, 120_000);

  it('seals a new store-log base when the agent says its bus came back (rebase), not otherwise', async () => {
    // The backup interval has passed (the applier's record of what it sent, set back in time).
    const sentFile = join(root, BACKUP_STATE);
    const sent = JSON.parse(readFileSync(sentFile, 'utf8')) as Record<string, { sentAt: string }>;
    for (const entry of Object.values(sent)) entry.sentAt = new Date(0).toISOString();
    writeFileSync(sentFile, JSON.stringify(sent), { mode: 0o600 });
    // The store log did not change: nothing is due.
    const quiet = await ask(socketPath, { op: 'refresh' });
    expect(quiet.kind === 'refreshed' ? quiet.backups.filter((b) => b.slot.includes('.')) : null).toEqual([]);
    // Parts sent while the bus was down may be lost: a new base, then the identity backup naming it.
    const rebased = await ask(socketPath, { op: 'refresh', rebase: true });
    const backups = rebased.kind === 'refreshed' ? rebased.backups : [];
    expect(carriesBase(backups)).toBe(true);
    expect(backups[backups.length - 1]?.slot).toBe(backupSlot(DEVICE, desired.instances[0]?.id ?? ''));
  }, 120_000);

  it('refuses a document signed by another key, or for another device, and changes nothing', async () => {
    const next = { ...desired, revision: desired.revision + 1, instances: [] };
    const forged = await applyRequest(await sealAs(next, generateSigningKey().secretKey));
    expect(forged).toMatchObject({ kind: 'rejected', reason: 'bad-signature' });
    const elsewhere = await applyRequest(await sealAs(next, controller.secretKey, 'pi-other'));
    expect(elsewhere).toMatchObject({ kind: 'rejected', reason: 'wrong-device' });
    const record = await readRecord(root);
    expect(record.revision).toBe(desired.revision);
    expect(record.refused?.reasons[0]).toMatch(/device/);
    expect(Object.keys(record.services)).toHaveLength(1); // the instance still runs
  }, 120_000);

  it('refuses a signed revision older than the one applied', async () => {
    const newer = { ...desired, revision: desired.revision + 2 };
    expect(await applyRequest(await sealAs(newer))).toMatchObject({ kind: 'applied', revision: newer.revision, converged: true });
    expect(await applyRequest(await sealAs(desired))).toMatchObject({ kind: 'rejected', reason: 'older-revision' });
    expect((await readRecord(root)).revision).toBe(newer.revision);
    // The view follows (unchanged copies are skipped, changed ones are not).
    expect((await readRecord(viewRoot(root))).revision).toBe(newer.revision);
  }, 120_000);

  it('goes back only to the last good state it noted itself, never to a document from the agent', async () => {
    const at = (await readRecord(root)).revision;
    // Noted: the revision it applied. Not noted: any other.
    expect(await ask(socketPath, { op: 'good', revision: at + 7 })).toEqual({ kind: 'noted', revision: at + 7, noted: false });
    expect(await ask(socketPath, { op: 'good', revision: at })).toEqual({ kind: 'noted', revision: at, noted: true });
    const next = { ...desired, revision: at + 1 };
    expect(await applyRequest(await sealAs(next))).toMatchObject({ kind: 'applied', revision: next.revision, converged: true });
    // Back to a revision it did not note: refused, nothing changes.
    expect(await ask(socketPath, { op: 'revert', to: desired.revision })).toMatchObject({ kind: 'rejected', reason: 'no-last-good' });
    expect((await readRecord(root)).revision).toBe(next.revision);
    // Back to the one it noted: applied again (an older revision, which an `apply` would refuse).
    expect(await ask(socketPath, { op: 'revert', to: at })).toMatchObject({ kind: 'applied', revision: at, converged: true });
    expect((await readRecord(root)).revision).toBe(at);
    expect((await readRecord(viewRoot(root))).revision).toBe(at);
  }, 120_000);

  it('seals the final backup of an instance just before it archives it (a hand-over), for the agent to send', async () => {
    const id = desired.instances[0]?.id ?? '';
    const gone = { ...desired, revision: (await readRecord(root)).revision + 1, instances: [], firewall: { loopbackOnlyPorts: desired.ssh.overTor ? [22] : [] } };
    const answer = await applyRequest(await sealAs(gone));
    expect(answer).toMatchObject({ kind: 'applied', revision: gone.revision, converged: true });
    expect(answer.kind === 'applied' ? answer.steps : []).toContainEqual(expect.stringMatching(new RegExp(`^archive .*${id}`)));
    const { slots, body } = await backupsIn(answer);
    expect(slots).toEqual([backupSlot(DEVICE, id)]);
    expect(body).toMatchObject({ device: DEVICE, reason: 'final', identity: { instance: id } });
  }, 120_000);

  it('stages a restore download part only when it opens itself (sealed to this device, signed by the controller)', async () => {
    const log = randomBytes(DOWNLOAD_PART_BYTES + 10);
    const download = downloadFor(createHash('sha256').update(log).digest('hex'), log.byteLength);
    const part = (index: number, signingSecretKey = controller.secretKey) => seal({ kind: RESTORE_PART_KIND, device: DEVICE, revision: index, body: {
      device: DEVICE, ref: refOf(download), index, parts: download.parts, data: log.subarray(index * DOWNLOAD_PART_BYTES, (index + 1) * DOWNLOAD_PART_BYTES).toString('base64'),
    } }, { signingSecretKey, recipient });
    const stage = async (sealed: Uint8Array) => ask(socketPath, { op: 'stage', sealed: Buffer.from(sealed).toString('base64'), download });
    const forged = await stage(await part(0, generateSigningKey().secretKey));
    expect(forged.kind === 'failed' ? forged.message : forged.kind).toMatch(/signature/);
    expect(await stage(await part(0))).toEqual({ kind: 'staged', complete: [] });
    expect(await stage(await part(1))).toEqual({ kind: 'staged', complete: [refOf(download)] });
    expect(await ask(socketPath, { op: 'staged', downloads: [download, { ...download, sha256: 'f'.repeat(64) }] })).toEqual({ kind: 'staged', complete: [refOf(download)] });
  }, 60_000);

  it('answers nothing to a request that is not one (the agent reports the applier failed)', async () => {
    const { connect } = await import('node:net');
    const text = await new Promise<string>((resolve) => {
      const s = connect(socketPath, () => s.write('{"op":"rm -rf /"}\n'));
      let got = '';
      s.on('data', (b: Buffer) => (got += b.toString()));
      s.on('close', () => { resolve(got); });
    });
    expect(text).toBe('');
  }, 60_000);
});
