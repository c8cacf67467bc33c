/**
 * The incremental store log (docs/continuity.md, "Store logs: base and deltas"): for SMP store logs of
 * 2,000 and 20,000 queue records (lines shaped like the real server's, random keys), the base's size
 * and chunks, what one backup interval with 10 new queues sends as a delta against a full snapshot,
 * the agent's time to decide (hashing the sent prefix), and the controller's time to open and
 * reassemble the whole chain (base and 32 deltas: age, signatures, SHA-256).
 */
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { planStoreLog, type ChainState } from '../agent/backup/store-log-chain.ts';
import { openPart, reassemble, type SealedPart } from '../controller/backup/store-log-chain.ts';
import { generateAgeIdentity } from '#shared/crypto/age.ts';
import { sealToMany } from '#shared/crypto/seal-many.ts';
import { generateSigningKey } from '#shared/crypto/sign.ts';
import { partName, STORE_LOG_PART_KIND, type StoreLogPart } from '#shared/schema/store-log-chain.ts';

const ID = { fingerprint: `${'f'.repeat(42)}1=`, epoch: 1 };
const b64 = (n: number) => randomBytes(n).toString('base64url');
/** One queue record about the size of the real server's (ids, keys, a DH key). */
const record = () => Buffer.from(`NEW id=${b64(24)} rid=${b64(24)} sid=${b64(24)} rk=MCowBQYDK2VwAyEA${b64(32)} dh=MCowBQYDK2VuAyEA${b64(32)} sndSecure=true status=active\n`);
const records = (n: number) => Buffer.concat(Array.from({ length: n }, record));

export async function storeLogChain(): Promise<Record<string, unknown>[]> {
  const age = await generateAgeIdentity();
  const signing = generateSigningKey();
  const rows: Record<string, unknown>[] = [];
  for (const queues of [2000, 20_000]) {
    let log = records(queues);
    const base = planStoreLog(log, undefined, ID);
    if (base.kind !== 'base') throw new Error(`expected a base, got ${base.kind}`);
    const parts: SealedPart[] = [];
    const seal = async (plan: { parts: readonly Omit<StoreLogPart, 'device' | 'instance' | 'fingerprint' | 'epoch' | 'takenAt'>[] }) => {
      for (const part of plan.parts) {
        const body: StoreLogPart = { device: 'pi-a', instance: 'press-smp-01', ...ID, takenAt: new Date().toISOString(), ...part };
        const sealed = await sealToMany({ kind: STORE_LOG_PART_KIND, device: 'pi-a', revision: 1, body }, { signingSecretKey: signing.secretKey, recipients: [age.recipient] });
        const name = partName(part.part);
        parts.push({ key: `pi-a.0123456789abcdef.${name}`, device: 'pi-a', slot: '0123456789abcdef', part: name, sealed });
      }
    };
    await seal(base);
    let state: ChainState = base.state;
    let tip = base.tip;
    const planMs: number[] = [];
    let deltaBytes = 0;
    for (let n = 0; n < 32; n++) {
      log = Buffer.concat([log, records(10)]);
      const t0 = performance.now();
      const plan = planStoreLog(log, state, ID);
      planMs.push(performance.now() - t0);
      if (plan.kind !== 'delta') break;
      deltaBytes = Buffer.from(plan.parts[0]?.data ?? '', 'base64').byteLength;
      await seal(plan);
      state = plan.state;
      tip = plan.tip;
    }
    const t1 = performance.now();
    const opened = await Promise.all(parts.map((p) => openPart(p, age.identity, new Map([['pi-a', signing.publicKey]]))));
    const r = reassemble(tip, opened, { instance: 'press-smp-01', ...ID });
    const reassembleMs = performance.now() - t1;
    if (!r.ok || !r.log.equals(log)) throw new Error('the chain did not reassemble');
    planMs.sort((a, b) => a - b);
    rows.push({
      queues, rawBytes: log.byteLength, baseCompressedBytes: state.baseBytes, baseChunks: state.chunks, deltas: tip.seq,
      deltaBytesFor10Queues: deltaBytes, fullSnapshotBytes: gzipSync(log).byteLength,
      planMedianMs: Number((planMs[Math.floor(planMs.length / 2)] ?? 0).toFixed(2)), reassembleMs: Math.round(reassembleMs), sealedBytes: parts.reduce((s, p) => s + p.sealed.byteLength, 0),
    });
  }
  return rows;
}
