/**
 * Member bundles: the pure and crypto part of `onionfleet bundle export` for a large group —
 * render and sign the bundle once, then encrypt it to each of 1000 members' X25519 recipients and
 * write the files and their SSH signatures (`.age.sig`; 0600, atomically) to a temp dir. The bus read is left out (it does not depend
 * on the number of members). Target: ≤ 3000 ms.
 *
 * Beside the total, `encryptMs` is the median time of the 1000 encryptions alone (no file
 * written), so a regression shows whether it is the crypto or the file system (one fsync a file).
 */
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderBundle, signBundle } from '../controller/bundle/document.ts';
import { writeMemberBundles, type MemberTarget } from '../controller/bundle/export.ts';
import { encryptTo, generateAgeIdentity } from '#shared/crypto/age.ts';
import { generateSigningKey } from '#shared/crypto/sign.ts';

const MEMBERS = 1000;
const RUNS = 3;
const B32 = 'abcdefghijklmnopqrstuvwxyz234567';

function address(kind: 'smp' | 'xftp', n: number): string {
  const onion = Array.from({ length: 56 }, (_, i) => B32[(n * 11 + i * 7) % 32]).join('');
  const fingerprint = Array.from({ length: 43 }, (_, i) => B32[(n + i) % 32]).join('');
  return `${kind}://${fingerprint}=:benchPassword${n}@${onion}.onion`;
}

export async function bundleExport(): Promise<Record<string, unknown>[]> {
  const key = generateSigningKey();
  const targets: MemberTarget[] = [];
  for (let i = 0; i < MEMBERS; i++) targets.push({ member: `member-${String(i).padStart(4, '0')}`, recipient: (await generateAgeIdentity()).recipient });
  const input = {
    fleet: 'bench', group: 'large', version: 2, date: '2025-06-01',
    smp: Array.from({ length: 10 }, (_, i) => address('smp', i)), xftp: [address('xftp', 99)],
    retire: [{ address: address('smp', 50), after: '2025-06-15' }],
  };
  const dir = await mkdtemp(join(tmpdir(), 'onionfleet-bench-bundles-'));
  try {
    // Warm-up (JIT, the crypto, the file system), then the median of RUNS exports into fresh dirs.
    await exportOnce(input, key, targets.slice(0, 50), join(dir, 'warm-up'));
    const times: number[] = [];
    const encryptTimes: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      times.push(await exportOnce(input, key, targets, join(dir, `run-${run}`)));
      encryptTimes.push(await encryptOnly(input, key, targets));
    }
    const ms = median(times);
    const written = (await readdir(join(dir, 'run-0'))).filter((f) => f.endsWith('.age')).length;
    return [{
      members: MEMBERS, written, ms: Math.round(ms), perMemberMs: Number((ms / MEMBERS).toFixed(2)), runsMs: times.map(Math.round),
      encryptMs: Math.round(median(encryptTimes)), targetMs: 3000,
    }];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const median = (values: readonly number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

/** Render and sign once, then encrypt to every target without writing: the crypto's share, in ms. */
async function encryptOnly(input: Parameters<typeof renderBundle>[0], key: { secretKey: string; publicKey: string }, targets: readonly MemberTarget[]): Promise<number> {
  const t0 = performance.now();
  const bytes = new TextEncoder().encode(signBundle(renderBundle(input), key.secretKey, key.publicKey));
  for (const t of targets) if ('recipient' in t) await encryptTo([t.recipient], bytes, { armor: true });
  return performance.now() - t0;
}

/** Render and sign once, then encrypt to and write for every target: the timed part, in ms. */
async function exportOnce(input: Parameters<typeof renderBundle>[0], key: { secretKey: string; publicKey: string }, targets: readonly MemberTarget[], dir: string): Promise<number> {
  await mkdir(dir, { mode: 0o700 });
  const t0 = performance.now();
  const text = signBundle(renderBundle(input), key.secretKey, key.publicKey);
  await writeMemberBundles(text, targets, dir, { signer: key });
  return performance.now() - t0;
}
