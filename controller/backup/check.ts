/**
 * Checking backups (`backup list`, `backup verify`): open each with one age identity, check its
 * signature and identity, and — where the device's status is at hand — that it matches what the
 * device reports (same onion and fingerprint for the instance it runs). Rows name instances, devices
 * and ages; never a key, password or onion address.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { InvalidInputError } from '#shared/errors.ts';
import { SigningPublicKey } from '#shared/schema/enrollment.ts';
import type { DeviceStatus } from '#shared/schema/status.ts';
import { summarizeInstanceData, type FilesSummary } from '#shared/schema/instance-data.ts';
import { openBackup, type OpenedBackup, type SealedBackup } from './open-backups.ts';
import { openPart, partKey, partsOf, reassemble, type OpenedPart, type SealedPart } from './store-log-chain.ts';

export interface BackupRow {
  readonly key: string;
  readonly device: string;
  readonly ok: boolean;
  readonly problem: string | null;
  readonly instance: string | null;
  readonly epoch: number | null;
  readonly reason: string | null;
  readonly takenAt: string | null;
  readonly ageSeconds: number | null;
  readonly storeLog: string | null;
  readonly bytes: number;
  /** `matches`, `differs` (the device serves another identity: a stale or foreign copy), `not-running` or `no-status`. */
  readonly deviceReports: 'matches' | 'differs' | 'not-running' | 'no-status';
  /** The store-log chain the backup names (null: none): its base's age, its deltas, the newest part's age (the data-loss window). */
  readonly chain: ChainRow | null;
}

export interface ChainRow {
  readonly baseTakenAt: string;
  readonly newestTakenAt: string;
  readonly baseAgeSeconds: number;
  readonly deltas: number;
  readonly newestAgeSeconds: number;
  readonly parts: number;
  readonly bytes: number;
  /** XFTP: whether the instance's files are in the chain, or were left out and why (null for SMP). */
  readonly xftpFiles: FilesSummary | null;
}

/** Opens and checks every backup; `statuses` (device → its status, if known) for the comparison. */
export async function checkBackups(backups: readonly SealedBackup[], identity: string, signers: ReadonlyMap<string, string>,
  statuses: ReadonlyMap<string, DeviceStatus>, now: number, sealedParts: readonly SealedPart[] = []): Promise<BackupRow[]> {
  const opened = await Promise.all(backups.map((b) => openBackup(b, identity, signers)));
  // Every part is opened and checked (bases and deltas), and each chain a backup names is reassembled.
  const parts = await Promise.all(sealedParts.map((p) => openPart(p, identity, signers)));
  const rows = opened.map((b) => row(b, parts, statuses, now));
  for (const p of parts) {
    if (p.ok) continue;
    rows.push({ key: p.key, device: p.device, bytes: p.sealed.byteLength, ok: false, problem: `store-log part refused: ${p.problem}`, instance: null, epoch: null, reason: null, takenAt: null, ageSeconds: null, storeLog: null, deviceReports: 'no-status', chain: null });
  }
  return rows;
}

function chainRow(b: OpenedBackup, parts: readonly OpenedPart[], now: number): ChainRow | string | null {
  if (!b.ok || b.body.storeLogChain === undefined) return null;
  const id = b.body.identity;
  const r = reassemble(b.body.storeLogChain, partsOf(b.key, parts), { instance: id.instance, fingerprint: id.fingerprint, epoch: id.epoch });
  if (!r.ok) return `store log chain refused: ${r.problem}`;
  const age = (t: string) => Math.max(0, Math.round((now - Date.parse(t)) / 1000));
  const used = partsOf(b.key, parts).filter((p) => r.parts.includes(p.part));
  let xftpFiles: FilesSummary | null = null;
  if (id.kind === 'xftp') {
    try {
      xftpFiles = summarizeInstanceData(r.log);
    } catch (err) {
      return `store log chain refused: ${err instanceof Error ? err.message : 'the XFTP data does not read back'}`;
    }
  }
  return { xftpFiles, baseTakenAt: r.baseTakenAt, newestTakenAt: r.tipTakenAt, baseAgeSeconds: age(r.baseTakenAt), deltas: r.deltas, newestAgeSeconds: age(r.tipTakenAt), parts: used.length, bytes: used.reduce((n, p) => n + p.sealed.byteLength, 0) };
}

function row(b: OpenedBackup, parts: readonly OpenedPart[], statuses: ReadonlyMap<string, DeviceStatus>, now: number): BackupRow {
  const base = { key: b.key, device: b.device, bytes: b.sealed.byteLength };
  const chain = chainRow(b, parts, now);
  if (typeof chain === 'string') return { ...base, ok: false, problem: chain, instance: null, epoch: null, reason: null, takenAt: null, ageSeconds: null, storeLog: null, deviceReports: 'no-status', chain: null };
  if (!b.ok) return { ...base, ok: false, problem: b.problem, instance: null, epoch: null, reason: null, takenAt: null, ageSeconds: null, storeLog: null, deviceReports: 'no-status', chain: null };
  const id = b.body.identity;
  const status = statuses.get(b.device);
  const running = status?.instances.find((i) => i.id === id.instance);
  const reports = status === undefined ? 'no-status' : running === undefined ? 'not-running'
    : running.onion === id.onion.hostname && running.fingerprint === id.fingerprint ? 'matches' : 'differs';
  return {
    ...base, ok: true, problem: null, instance: id.instance, epoch: id.epoch, reason: b.body.reason, takenAt: b.body.takenAt,
    ageSeconds: Math.max(0, Math.round((now - Date.parse(b.body.takenAt)) / 1000)), storeLog: id.storeLogNote, deviceReports: reports, chain,
  };
}

/** `backup export` writes the devices' signing keys beside the sealed files, so `verify --dir` needs no controller state. */
export const SIGNERS_FILE = 'signers.json';
const Signers = z.record(z.string(), SigningPublicKey);

/** The sealed backups and signers of an exported directory. Exit 2 when it is not one. */
export async function readExportDir(dir: string): Promise<{ backups: SealedBackup[]; parts: SealedPart[]; signers: Map<string, string> }> {
  const text = await readFile(join(dir, SIGNERS_FILE), 'utf8').catch(() => null);
  if (text === null) throw new InvalidInputError([{ source: dir, message: `has no ${SIGNERS_FILE}: not a directory \`onionfleet backup export\` wrote` }]);
  let parsed: ReturnType<typeof Signers.safeParse>;
  try {
    parsed = Signers.safeParse(JSON.parse(text));
  } catch {
    throw new InvalidInputError([{ source: join(dir, SIGNERS_FILE), message: 'is not JSON' }]);
  }
  if (!parsed.success) throw new InvalidInputError([{ source: join(dir, SIGNERS_FILE), message: 'expected { "<device>": "ed25519:…" }' }]);
  const all = (await readdir(dir)).sort();
  const files = all.filter((f) => /^[a-z0-9][a-z0-9-]{0,62}\.[0-9a-f]{16}\.age$/.test(f));
  const backups = await Promise.all(files.map(async (f) => ({ key: f.slice(0, -4), device: f.split('.')[0] ?? '', sealed: new Uint8Array(await readFile(join(dir, f))) })));
  // The store-log chains' parts: `<device>.<slot>.<part>.age`.
  const parts: SealedPart[] = [];
  for (const f of all) {
    const k = f.endsWith('.age') ? partKey(f.slice(0, -4)) : null;
    if (k !== null) parts.push({ key: f.slice(0, -4), ...k, sealed: new Uint8Array(await readFile(join(dir, f))) });
  }
  return { backups, parts, signers: new Map(Object.entries(parsed.data)) };
}

/** The age identities of a key file (`AGE-SECRET-KEY-1…` lines; blank lines and `#` comments skipped). Exit 2 otherwise. */
export async function readAgeIdentityFile(file: string): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => null);
  if (text === null) throw new InvalidInputError([{ source: file, message: 'cannot read the identity file' }]);
  const keys = text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  if (keys.length !== 1 || !keys[0]?.startsWith('AGE-SECRET-KEY-1')) throw new InvalidInputError([{ source: file, message: 'expected one age identity (AGE-SECRET-KEY-1…)' }]);
  return keys[0];
}
