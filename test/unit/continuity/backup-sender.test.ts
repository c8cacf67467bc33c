/**
 * The agent's BackupSender with the store-log chain (agent/backup/sender.ts), on identity files in a
 * temp root: the identity goes at once with a base; a changed log goes as a delta at most once per
 * backupInterval (the rate bound), followed by the identity backup naming the tip; a compaction sends
 * a new base; after a reconnect the next due backup is a new base even with the log unchanged; the
 * final backup sends the last delta before the identity that names it.
 */
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BackupSender, BACKUP_KIND } from '../../../agent/backup/sender.ts';
import { STORE_LOG_FILE } from '../../../agent/backup/identity-files.ts';
import { PATHS } from '../../../agent/render/paths.ts';
import { open } from '#shared/crypto/envelope.ts';
import { generateAgeIdentity } from '#shared/crypto/age.ts';
import { generateSigningKey } from '#shared/crypto/sign.ts';
import { createLogger } from '#shared/log.ts';
import { BackupBody } from '#shared/schema/identity.ts';
import { desiredState, instance, onionHostname } from '../../builders/desired.ts';

const PEM = (label: string) => `-----BEGIN ${label}-----\nAAAA\n-----END ${label}-----\n`;
const signing = generateSigningKey();
let root: string;
let sent: { slot: string; sealed: Uint8Array }[];
let reader: { identity: string; recipient: string };
let logged: string;

beforeEach(async () => {
  root = mkdtempSync(join(tmpdir(), 'onionfleet-sender-'));
  sent = [];
  logged = '';
  reader = await generateAgeIdentity();
});
afterEach(() => { rmSync(root, { recursive: true, force: true }); });

function setUp(): { desired: ReturnType<typeof desiredState>; log: string; sender: BackupSender } {
  const i = instance('smp', 1, { continuity: { identityCopies: true, backupSeconds: 60, recipients: [reader.recipient] } });
  const at = (p: string) => join(root, p);
  mkdirSync(at(PATHS.onionDir(i.id)), { recursive: true });
  writeFileSync(join(at(PATHS.onionDir(i.id)), 'hostname'), `${onionHostname(i.id)}\n`);
  writeFileSync(join(at(PATHS.onionDir(i.id)), 'hs_ed25519_secret_key'), 'key');
  const cfg = at(PATHS.configDir('smp', i.id));
  mkdirSync(cfg, { recursive: true });
  for (const [f, label] of [['ca.crt', 'CERTIFICATE'], ['ca.key', 'PRIVATE KEY'], ['server.crt', 'CERTIFICATE'], ['server.key', 'PRIVATE KEY']] as const) writeFileSync(join(cfg, f), PEM(label));
  writeFileSync(join(cfg, 'fingerprint'), `${'f'.repeat(42)}1=\n`);
  const logDir = at(PATHS.logDir('smp', i.id));
  mkdirSync(logDir, { recursive: true });
  const log = join(logDir, STORE_LOG_FILE);
  writeFileSync(log, Array.from({ length: 200 }, (_, n) => `NEW rid=seed${n} sid=${'s'.repeat(16)}\n`).join(''));
  const sender = new BackupSender({ root, device: 'pi-test-1', signingSecretKey: signing.secretKey, send: (slot, sealed) => sent.push({ slot, sealed }), log: createLogger({ name: 'onionfleet-agent', format: 'json', stream: new Writable({ write(chunk: Buffer, _enc, done) { logged += chunk.toString(); done(); } }) }) });
  return { desired: desiredState({ instances: [i] }), log, sender };
}

/** The part names and the identity backup's reason and tip sequence of what was sent since `from`. */
async function since(from: number): Promise<{ parts: string[]; reason: string | null; seq: number | null }> {
  const batch = sent.slice(from);
  const identity = batch.find((b) => !b.slot.includes('.'));
  expect(batch[batch.length - 1]).toBe(identity); // the identity backup comes last, after the parts it names
  const body = identity === undefined ? null : (await open(identity.sealed, { identity: reader.identity, signer: signing.publicKey, kind: BACKUP_KIND, device: 'pi-test-1', schema: BackupBody })).body;
  return { parts: batch.filter((b) => b.slot.includes('.')).map((b) => b.slot.split('.')[1] ?? ''), reason: body?.reason ?? null, seq: body?.storeLogChain?.seq ?? null };
}

describe('BackupSender and the store-log chain', () => {
  it('sends a base with the identity, then deltas at most once per interval, a new base after a compaction', async () => {
    const { desired, log, sender } = setUp();
    const t0 = Date.parse('2026-12-01T00:00:00Z');
    await sender.tick(desired, new Date(t0));
    expect(await since(0)).toEqual({ parts: ['b000'], reason: 'identity', seq: 0 });

    appendFileSync(log, 'NEW rid=q1 sid=ssssssssssssssss\n');
    let mark = sent.length;
    await sender.tick(desired, new Date(t0 + 30_000)); // within the interval: held back
    expect(sent.length).toBe(mark);
    await sender.tick(desired, new Date(t0 + 60_000));
    expect(await since(mark)).toEqual({ parts: ['d001'], reason: 'store-log', seq: 1 });

    mark = sent.length;
    await sender.tick(desired, new Date(t0 + 200_000)); // unchanged: nothing
    expect(sent.length).toBe(mark);

    // A restart compacted the log (a queue deleted): the file no longer starts with what was sent.
    writeFileSync(log, 'NEW rid=seed1 sid=ssssssssssssssss\n');
    await sender.tick(desired, new Date(t0 + 260_000));
    expect(await since(mark)).toEqual({ parts: ['b000'], reason: 'store-log', seq: 0 });
    // Log lines name the instance and the reason, never the log's content.
    expect(logged).toMatch(/newsroom-smp-01.*store log base sent \(rewritten\)|store log base sent \(rewritten\).*newsroom-smp-01/);
    expect(logged).not.toMatch(/rid=|seed1/);
  });

  it('after a reconnect sends a new base at the next due time even with the log unchanged, and the final backup carries the last delta', async () => {
    const { desired, log, sender } = setUp();
    const t0 = Date.parse('2026-12-01T00:00:00Z');
    await sender.tick(desired, new Date(t0));
    sender.rebase();
    let mark = sent.length;
    await sender.tick(desired, new Date(t0 + 10_000)); // not due yet
    expect(sent.length).toBe(mark);
    await sender.tick(desired, new Date(t0 + 60_000));
    expect(await since(mark)).toEqual({ parts: ['b000'], reason: 'store-log', seq: 0 });
    expect(logged).toMatch(/store log base sent \(reconnected\)/);
    mark = sent.length;
    await sender.tick(desired, new Date(t0 + 200_000)); // rebased once: nothing more
    expect(sent.length).toBe(mark);

    appendFileSync(log, 'NEW rid=q2 sid=ssssssssssssssss\n');
    await sender.final(desired.instances[0]?.id ?? '');
    expect(await since(mark)).toEqual({ parts: ['d001'], reason: 'final', seq: 1 });
  });
});
