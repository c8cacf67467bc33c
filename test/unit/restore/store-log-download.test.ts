/**
 * Restore downloads (docs/continuity.md, "Restores larger than a desired state"): the wire and part
 * schemas are bounded; a part is staged only when it opens (sealed to this device, signed by the
 * controller); the parts must make the log the desired state names; the agent planner does not
 * restore — nor make a fresh identity for — an instance whose download is not whole; and the
 * downloader fetches part by part from a link, dropping what does not open.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { planSteps } from '../../../agent/reconcile/plan.ts';
import { downloadStage, RestoreDownloader } from '../../../agent/restore/download.ts';
import { completeDownloads, pruneStaged, STAGING_DIR, stagedLog, stageRestorePart } from '../../../agent/restore/staging.ts';
import { seal } from '#shared/crypto/envelope.ts';
import { generateAgeIdentity } from '#shared/crypto/age.ts';
import { generateSigningKey } from '#shared/crypto/sign.ts';
import { DesiredState, type DesiredInstance } from '#shared/schema/desired-state.ts';
import type { InstanceIdentity } from '#shared/schema/identity.ts';
import {
  decodeRestoreRequest, DOWNLOAD_PART_BYTES, downloadFor, encodeRestoreRequest, refOf, RESTORE_PART_KIND, restorePartKey, type RestorePart, type StoreLogDownload,
} from '#shared/schema/store-log-download.ts';
import { desiredState, onionHostname } from '../../builders/desired.ts';
import { FakeDevice } from '../reconcile/fake-device.ts';

const device = 'pi-a';
const controller = generateSigningKey();
const stranger = generateSigningKey();
const deviceAge = await generateAgeIdentity();
const otherAge = await generateAgeIdentity();
const keys = { identity: deviceAge.identity, signer: controller.publicKey, device };
const silent = pino({ level: 'silent' });

/** A gzip'd-log stand-in of `bytes` random bytes, its download, and its parts sealed as the controller seals them. */
async function download(bytes: number, options: { signer?: string; recipient?: string; to?: string } = {}): Promise<{ log: Buffer; d: StoreLogDownload; parts: Uint8Array[] }> {
  const log = randomBytes(bytes);
  const d = downloadFor(createHash('sha256').update(log).digest('hex'), log.byteLength);
  const parts: Uint8Array[] = [];
  for (let index = 0; index < d.parts; index++) {
    const body: RestorePart = { device: options.to ?? device, ref: refOf(d), index, parts: d.parts, data: log.subarray(index * DOWNLOAD_PART_BYTES, (index + 1) * DOWNLOAD_PART_BYTES).toString('base64') };
    parts.push(await seal({ kind: RESTORE_PART_KIND, device: options.to ?? device, revision: index, body }, { signingSecretKey: options.signer ?? controller.secretKey, recipient: options.recipient ?? deviceAge.recipient }));
  }
  return { log, d, parts };
}

const root = () => mkdtempSync(join(tmpdir(), 'onionfleet-restore-'));

describe('the download wire', () => {
  it('names parts by device, reference and number, and bounds requests', () => {
    expect(restorePartKey('pi-a', '0123456789abcdef', 7)).toBe('pi-a.0123456789abcdef.007');
    expect(decodeRestoreRequest(encodeRestoreRequest({ ref: '0123456789abcdef', index: 3 }))).toEqual({ ref: '0123456789abcdef', index: 3 });
    for (const bad of ['{"ref":"x","index":0}', '{"ref":"0123456789abcdef","index":32}', '{"ref":"0123456789abcdef","index":0,"reply":"x"}', 'not json', 'x'.repeat(300)]) {
      expect(decodeRestoreRequest(new TextEncoder().encode(bad))).toBeNull();
    }
    expect(downloadFor('a'.repeat(64), DOWNLOAD_PART_BYTES + 1).parts).toBe(2);
  });
});

describe('staging a download', () => {
  it('keeps parts that open and puts them together into the log the desired state names', async () => {
    const dir = root();
    const { log, d, parts } = await download(DOWNLOAD_PART_BYTES * 2 + 100);
    expect(d.parts).toBe(3);
    expect(await stagedLog(dir, d)).toBeNull();
    for (const p of parts.slice(0, 2)) await stageRestorePart(dir, p, keys);
    expect(await completeDownloads(dir, [d])).toEqual(new Set());
    await stageRestorePart(dir, parts[2] ?? new Uint8Array(), keys);
    expect((await stagedLog(dir, d))?.equals(log)).toBe(true);
    expect(await completeDownloads(dir, [d])).toEqual(new Set([refOf(d)]));
    // Another log with the same reference and length does not pass for it.
    expect(await stagedLog(dir, { ...d, sha256: `${d.sha256.slice(0, 16)}${'0'.repeat(48)}` })).toBeNull();
  });

  it('refuses a part signed by anyone but the controller, sealed to another device, or tampered with', async () => {
    const dir = root();
    const forged = await download(100, { signer: stranger.secretKey });
    await expect(stageRestorePart(dir, forged.parts[0] ?? new Uint8Array(), keys)).rejects.toThrow(/signature/);
    const elsewhere = await download(100, { recipient: otherAge.recipient });
    await expect(stageRestorePart(dir, elsewhere.parts[0] ?? new Uint8Array(), keys)).rejects.toThrow(/decrypt/);
    const named = await download(100, { to: 'pi-b' });
    await expect(stageRestorePart(dir, named.parts[0] ?? new Uint8Array(), keys)).rejects.toThrow(/pi-b/);
    const good = await download(100);
    const tampered = Uint8Array.from(good.parts[0] ?? []);
    tampered[tampered.length - 10] = (tampered[tampered.length - 10] ?? 0) ^ 1;
    await expect(stageRestorePart(dir, tampered, keys)).rejects.toThrow();
    // Nothing was written for any of them.
    expect(existsSync(join(dir, STAGING_DIR))).toBe(false);
    expect(await stagedLog(dir, good.d)).toBeNull();
  });

  it('removes the parts of downloads the desired state no longer names', async () => {
    const dir = root();
    const kept = await download(50);
    const dropped = await download(60);
    for (const p of [...kept.parts, ...dropped.parts]) await stageRestorePart(dir, p, keys);
    writeFileSync(join(dir, STAGING_DIR, 'not-a-ref'), 'x');
    const base = desiredState();
    const first = base.instances[0] as DesiredInstance;
    await pruneStaged(dir, { instances: [{ ...first, identity: identityWith(first, kept.d) }] });
    expect(readdirSync(join(dir, STAGING_DIR)).sort()).toEqual([refOf(kept.d)]);
  });
});

const PEM = (label: string) => `-----BEGIN ${label}-----\nAAAA\n-----END ${label}-----\n`;
function identityWith(i: DesiredInstance, d: StoreLogDownload): InstanceIdentity {
  return {
    instance: i.id, kind: i.kind, group: i.group, epoch: 2, onion: { hostname: onionHostname('moved'), secretKeyFile: 'AAAA' },
    fingerprint: `${'f'.repeat(42)}1=`, caCert: PEM('CERTIFICATE'), caKey: null, serverCert: PEM('CERTIFICATE'), serverKey: PEM('PRIVATE KEY'),
    password: i.password, storeLog: null, storeLogNote: 'fetch', storeLogDownload: d,
  };
}

describe('the agent planner and a download', () => {
  it('neither restores nor makes an identity for an instance while its download is not whole, and restores it once it is', async () => {
    const { d } = await download(DOWNLOAD_PART_BYTES + 1);
    const base = desiredState();
    const moved = base.instances[0] as DesiredInstance;
    const desired = DesiredState.parse({ ...base, instances: base.instances.map((i) => (i.id === moved.id ? { ...i, identity: identityWith(i, d) } : i)) });
    const device = new FakeDevice();
    const waiting = planSteps(desired, device.observe(desired));
    expect(waiting.blocked).toEqual([`${moved.id}: waiting for its store log (a download of ${Math.ceil(d.bytes / 1024)} KiB in 2 parts) before it is restored`]);
    const touches = (s: (typeof waiting.steps)[number]) => ('instance' in s && s.instance === moved.id) || ('name' in s && s.name === moved.id);
    expect(waiting.steps.filter(touches)).toEqual([]);
    // The rest of the device goes on.
    const other = base.instances[1] as DesiredInstance;
    expect(waiting.steps.some((s) => s.action === 'initInstance' && s.instance === other.id)).toBe(true);

    const whole = planSteps(desired, { ...device.observe(desired), stagedDownloads: new Set([refOf(d)]) });
    expect(whole.blocked).toEqual([]);
    expect(whole.steps.some((s) => s.action === 'restoreIdentity' && s.instance === moved.id)).toBe(true);
  });
});

describe('the downloader', () => {
  it('asks part by part, stages what opens, and tries a failed download again only later', async () => {
    const dir = root();
    const { log, d, parts } = await download(DOWNLOAD_PART_BYTES + 5);
    const forged = await download(DOWNLOAD_PART_BYTES + 5, { signer: stranger.secretKey });
    const asked: string[] = [];
    let handler: (sealed: Uint8Array) => void = () => undefined;
    let answering = true;
    const link = {
      onRestorePart: (h: (sealed: Uint8Array) => void) => { handler = h; },
      requestRestorePart: (ref: string, index: number) => {
        asked.push(`${ref}.${index}`);
        if (!answering) return;
        // A forged copy first (dropped), then the real part.
        queueMicrotask(() => { handler(forged.parts[index] ?? new Uint8Array()); handler(parts[index] ?? new Uint8Array()); });
      },
    };
    const base = desiredState();
    const first = base.instances[0] as DesiredInstance;
    const desired = { instances: [{ ...first, identity: identityWith(first, d) }] };

    const failing = new RestoreDownloader({ link, keys, stage: downloadStage(undefined, dir, keys), log: silent, partDeadlineMs: 200 });
    answering = false;
    await failing.fetch(desired);
    expect(asked).toEqual([`${refOf(d)}.0`, `${refOf(d)}.0`]);
    await failing.fetch(desired); // not again so soon
    expect(asked.length).toBe(2);

    answering = true;
    asked.length = 0;
    const downloader = new RestoreDownloader({ link, keys, stage: downloadStage(undefined, dir, keys), log: silent });
    await downloader.fetch(desired);
    expect(asked).toEqual([`${refOf(d)}.0`, `${refOf(d)}.1`]);
    expect((await stagedLog(dir, d))?.equals(log)).toBe(true);
    // Whole: nothing asked of the link, and the stage is not asked again either (a heartbeat costs nothing).
    let stageAsked = 0;
    const counting = downloadStage(undefined, dir, keys);
    const again = new RestoreDownloader({ link, keys, stage: { complete: (ds) => { stageAsked++; return counting.complete(ds); }, stage: (sealed, d) => counting.stage(sealed, d) }, log: silent });
    await again.fetch(desired);
    await again.fetch(desired);
    expect(asked.length).toBe(2);
    expect(stageAsked).toBe(1);
  });
});
