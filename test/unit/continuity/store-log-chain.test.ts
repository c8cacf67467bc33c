/**
 * The store-log chain (docs/continuity.md, "Store logs: base and deltas"): when the agent sends a base
 * and when a delta (append-only growth → delta; a compaction, another identity, deltas outgrowing the
 * base → a new base; too large → left out), and the controller's reassembly of sealed parts — the log
 * byte for byte, a gap refused, a tampered part refused, a part of another base refused.
 */
import { randomBytes } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { planStoreLog, type ChainState, type StoreLogPlan } from '../../../agent/backup/store-log-chain.ts';
import { openPart, reassemble, withStoreLog, type OpenedPart, type SealedPart } from '../../../controller/backup/store-log-chain.ts';
import type { OpenedBackup } from '../../../controller/backup/open-backups.ts';
import { generateAgeIdentity } from '#shared/crypto/age.ts';
import { sealToMany } from '#shared/crypto/seal-many.ts';
import { generateSigningKey } from '#shared/crypto/sign.ts';
import type { BackupBody } from '#shared/schema/identity.ts';
import { partName, STORE_LOG_CHUNK_BYTES, STORE_LOG_MAX_CHUNKS, STORE_LOG_MAX_DELTAS, STORE_LOG_PART_KIND, type ChainTip, type StoreLogPart } from '#shared/schema/store-log-chain.ts';

const ID = { fingerprint: `${'f'.repeat(42)}1=`, epoch: 1 };
const INSTANCE = 'press-smp-01';
const DEVICE = 'pi-a';
const SLOT = '0123456789abcdef';
const record = (n: number) => Buffer.from(`NEW q${n} ${randomBytes(24).toString('base64')}\n`);
const records = (from: number, to: number) => Buffer.concat(Array.from({ length: to - from }, (_, k) => record(from + k)));
let ids = 0;
const nextId = () => (++ids).toString(16).padStart(16, '0');

function sent(plan: StoreLogPlan): ChainState {
  if (plan.kind !== 'base' && plan.kind !== 'delta') throw new Error(`expected parts, got ${plan.kind}`);
  return plan.state;
}

describe('the agent: base or delta', () => {
  it('sends a base first, then only the appended bytes as numbered deltas, and nothing when the log did not change', () => {
    const first = records(0, 100);
    const base = planStoreLog(first, undefined, ID, nextId);
    expect(base.kind).toBe('base');
    if (base.kind !== 'base') return;
    expect(base.reason).toBe('first');
    expect(base.parts.map((p) => partName(p.part))).toEqual(['b000']);
    expect(planStoreLog(first, base.state, ID, nextId)).toEqual({ kind: 'unchanged', tip: base.tip });

    const grown = Buffer.concat([first, records(100, 103)]);
    const delta = planStoreLog(grown, base.state, ID, nextId);
    expect(delta.kind).toBe('delta');
    if (delta.kind !== 'delta') return;
    const part = delta.parts[0];
    expect(part?.part).toEqual({ kind: 'delta', seq: 1, offset: first.byteLength });
    expect(gunzipSync(Buffer.from(part?.data ?? '', 'base64'))).toEqual(grown.subarray(first.byteLength));
    expect(delta.tip).toMatchObject({ baseId: base.state.baseId, seq: 1, length: grown.byteLength });
    const again = planStoreLog(Buffer.concat([grown, record(200)]), delta.state, ID, nextId);
    expect(again.kind === 'delta' && again.tip.seq).toBe(2);
  });

  it('sends a new base after a compaction (the file no longer starts with what was sent), for another identity, and when deltas outgrow the base', () => {
    const log = records(0, 50);
    const base = sent(planStoreLog(log, undefined, ID, nextId));
    // A restart compacted the log: shorter, or the same length with other bytes.
    const compacted = planStoreLog(records(0, 10), base, ID, nextId);
    expect(compacted.kind === 'base' && compacted.reason).toBe('rewritten');
    const rewritten = Buffer.from(log);
    rewritten[5] = (rewritten[5] ?? 0) ^ 1;
    const same = planStoreLog(Buffer.concat([rewritten, record(99)]), base, ID, nextId);
    expect(same.kind === 'base' && same.reason).toBe('rewritten');
    expect(same.kind === 'base' && same.state.baseId).not.toBe(base.baseId);
    // A restored identity (another epoch): a new base, never a delta on the old device's chain.
    const moved = planStoreLog(Buffer.concat([log, record(99)]), base, { ...ID, epoch: 2 }, nextId);
    expect(moved.kind === 'base' && moved.reason).toBe('identity');
    // Deltas that add up to more than the base: a new base.
    const big = planStoreLog(Buffer.concat([log, records(50, 200)]), base, ID, nextId);
    expect(big.kind === 'base' && big.reason).toBe('deltas-full');
  });

  it('sends at most STORE_LOG_MAX_DELTAS deltas on one base', () => {
    let log = records(0, 2000);
    let state = sent(planStoreLog(log, undefined, ID, nextId));
    for (let n = 1; n <= STORE_LOG_MAX_DELTAS; n++) {
      log = Buffer.concat([log, record(5000 + n)]);
      const plan = planStoreLog(log, state, ID, nextId);
      expect(plan.kind).toBe('delta');
      state = sent(plan);
    }
    const next = planStoreLog(Buffer.concat([log, record(9999)]), state, ID, nextId);
    expect(next.kind === 'base' && next.reason).toBe('deltas-full');
  });

  it('cuts a large base into chunks, and leaves out a store log beyond the bound', () => {
    const large = randomBytes(STORE_LOG_CHUNK_BYTES * 2 + 1000); // random: gzip does not shrink it
    const plan = planStoreLog(large, undefined, ID, nextId);
    expect(plan.kind === 'base' && plan.parts.map((p) => partName(p.part))).toEqual(['b000', 'b001', 'b002']);
    const huge = randomBytes(STORE_LOG_CHUNK_BYTES * STORE_LOG_MAX_CHUNKS + 1);
    expect(planStoreLog(huge, undefined, ID, nextId).kind).toBe('too-large');
  });
});

describe('the controller: reassembling a chain', () => {
  let age: { identity: string; recipient: string };
  const signing = generateSigningKey();
  const signers = new Map([[DEVICE, signing.publicKey]]);
  beforeAll(async () => { age = await generateAgeIdentity(); });

  /** Seals a plan's parts as the agent does and stores them as the gateway does (a new base drops the old chain). */
  async function ship(bucket: Map<string, SealedPart>, plan: StoreLogPlan): Promise<ChainTip> {
    if (plan.kind === 'unchanged') return plan.tip;
    if (plan.kind === 'too-large') throw new Error('too large');
    for (const part of plan.parts) {
      const body: StoreLogPart = { device: DEVICE, instance: INSTANCE, ...ID, takenAt: new Date().toISOString(), ...part };
      const sealed = await sealToMany({ kind: STORE_LOG_PART_KIND, device: DEVICE, revision: 1, body }, { signingSecretKey: signing.secretKey, recipients: [age.recipient] });
      const name = partName(part.part);
      if (name === 'b000') bucket.clear();
      bucket.set(name, { key: `${DEVICE}.${SLOT}.${name}`, device: DEVICE, slot: SLOT, part: name, sealed });
    }
    return plan.tip;
  }
  const open = (bucket: Map<string, SealedPart>): Promise<OpenedPart[]> => Promise.all([...bucket.values()].map((p) => openPart(p, age.identity, signers)));
  const of = { instance: INSTANCE, ...ID };

  async function chainOf(steps: Buffer[]): Promise<{ bucket: Map<string, SealedPart>; tip: ChainTip; log: Buffer }> {
    const bucket = new Map<string, SealedPart>();
    let state: ChainState | undefined;
    let tip: ChainTip | null = null;
    for (const log of steps) {
      const plan = planStoreLog(log, state, ID, nextId);
      tip = await ship(bucket, plan);
      if (plan.kind === 'base' || plan.kind === 'delta') state = plan.state;
    }
    if (tip === null) throw new Error('no steps');
    return { bucket, tip, log: steps[steps.length - 1] ?? Buffer.alloc(0) };
  }

  const growing = () => {
    const a = records(0, 300);
    const b = Buffer.concat([a, records(300, 303)]);
    const c = Buffer.concat([b, records(303, 306)]);
    return [a, b, c];
  };

  it('rebuilds the log from a chunked base and every delta, byte for byte', async () => {
    const first = Buffer.concat([randomBytes(STORE_LOG_CHUNK_BYTES + 5000), records(0, 10)]);
    const second = Buffer.concat([first, records(10, 12)]);
    const { bucket, tip, log } = await chainOf([first, second, Buffer.concat([second, records(12, 15)])]);
    expect([...bucket.keys()].sort()).toEqual(['b000', 'b001', 'd001', 'd002']);
    const r = reassemble(tip, await open(bucket), of);
    expect(r.ok).toBe(true);
    expect(r.ok && r.log.equals(log)).toBe(true);
    expect(r.ok && r.deltas).toBe(2);
  });

  it('after a compaction, rebuilds the new base alone (the old deltas are gone)', async () => {
    const [a = Buffer.alloc(0), b = Buffer.alloc(0)] = growing();
    const { bucket, tip, log } = await chainOf([a, b, records(0, 20)]);
    expect([...bucket.keys()]).toEqual(['b000']);
    const r = reassemble(tip, await open(bucket), of);
    expect(r.ok && r.log.equals(log)).toBe(true);
  });

  it('refuses a chain with a gap, and offers the log up to the gap when the base is whole', async () => {
    const { bucket, tip, log } = await chainOf(growing());
    bucket.delete('d001');
    const r = reassemble(tip, await open(bucket), of);
    expect(!r.ok && r.problem).toBe('gap: part d001 is missing');
    expect(!r.ok && r.prefix?.deltas).toBe(0);
    // The prefix is the base: the start of the log, byte for byte.
    const prefix = !r.ok ? r.prefix?.log ?? Buffer.alloc(0) : Buffer.alloc(0);
    expect(prefix.byteLength).toBeGreaterThan(0);
    expect(log.subarray(0, prefix.byteLength).equals(prefix)).toBe(true);
    bucket.delete('b000');
    const noBase = reassemble(tip, await open(bucket), of);
    expect(!noBase.ok && noBase.prefix).toBeUndefined();
  });

  it('refuses a chain with a tampered delta, or a delta stored under another number', async () => {
    const { bucket, tip } = await chainOf(growing());
    const d2 = bucket.get('d002');
    if (d2 === undefined) throw new Error('no d002');
    const tampered = Uint8Array.from(d2.sealed);
    tampered[tampered.length - 20] = (tampered[tampered.length - 20] ?? 0) ^ 1;
    bucket.set('d002', { ...d2, sealed: tampered });
    const r = reassemble(tip, await open(bucket), of);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.problem).toMatch(/^part d002 refused: /);

    const again = await chainOf(growing());
    const d1 = again.bucket.get('d001');
    if (d1 === undefined) throw new Error('no d001');
    again.bucket.set('d002', { ...d1, key: `${DEVICE}.${SLOT}.d002`, part: 'd002' });
    const swapped = reassemble(again.tip, await open(again.bucket), of);
    expect(!swapped.ok && swapped.problem).toMatch(/^part d002 refused: it is part d001, stored as d002/);
  });

  it('refuses a tip whose base was replaced, and one another identity signed for', async () => {
    const { bucket, tip } = await chainOf(growing());
    expect(reassemble({ ...tip, baseId: 'ffffffffffffffff' }, await open(bucket), of)).toEqual({ ok: false, problem: 'gap: part b000 belongs to another base' });
    expect(reassemble(tip, await open(bucket), { ...of, epoch: 2 })).toEqual({ ok: false, problem: 'part b000 belongs to another identity' });
    expect(reassemble({ ...tip, seq: tip.seq + 1 }, await open(bucket), of)).toMatchObject({ ok: false, problem: `gap: part d00${tip.seq + 1} is missing` });
  });

  it('puts the reassembled log in the identity a restore gives, and refuses the backup when its chain does not reassemble', async () => {
    const { bucket, tip, log } = await chainOf(growing());
    const body = {
      device: DEVICE, takenAt: new Date().toISOString(), reason: 'store-log', storeLogChain: tip,
      identity: { instance: INSTANCE, fingerprint: ID.fingerprint, epoch: 1, storeLog: null, storeLogNote: 'chain' },
    } as unknown as BackupBody;
    const backup: OpenedBackup = { key: `${DEVICE}.${SLOT}`, device: DEVICE, sealed: new Uint8Array(1), ok: true, body };
    const restored = withStoreLog(backup, await open(bucket));
    expect(restored.ok && restored.body.identity.storeLogNote).toBe('included');
    expect(restored.ok && gunzipSync(Buffer.from(restored.body.identity.storeLog ?? '', 'base64')).equals(log)).toBe(true);
    // A delta lost on the way: the identity is restored with the log up to the gap.
    const d2 = bucket.get('d002');
    bucket.delete('d002');
    const upToGap = withStoreLog(backup, await open(bucket));
    expect(upToGap.ok && upToGap.body.identity.storeLogNote).toBe('included');
    const restoredLog = upToGap.ok ? gunzipSync(Buffer.from(upToGap.body.identity.storeLog ?? '', 'base64')) : Buffer.alloc(0);
    expect(restoredLog.byteLength).toBeGreaterThan(0);
    expect(restoredLog.byteLength).toBeLessThan(log.byteLength);
    expect(log.subarray(0, restoredLog.byteLength).equals(restoredLog)).toBe(true);
    // A part that fails its checks refuses the backup (no restore from a tampered chain).
    if (d2 === undefined) throw new Error('no d002');
    const tampered = Uint8Array.from(d2.sealed);
    tampered[tampered.length - 20] = (tampered[tampered.length - 20] ?? 0) ^ 1;
    bucket.set('d002', { ...d2, sealed: tampered });
    const refused = withStoreLog(backup, await open(bucket));
    expect(refused.ok).toBe(false);
    expect(!refused.ok && refused.problem).toMatch(/^store log chain refused: part d002 refused: /);
    // No base at all: refused.
    bucket.delete('b000');
    bucket.delete('d002');
    expect(withStoreLog(backup, await open(bucket)).ok).toBe(false);
  });
});
