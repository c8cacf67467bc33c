/**
 * What the controller's bus holds, read with the controller's credentials, in a form two snapshots can
 * be compared by: every stream (its config, its message count and last sequence, its durable
 * consumers) and every key of the KV buckets (revision, operation and a digest of the value). A hostile
 * party's attempt "changed nothing" when the snapshots before and after are equal.
 */
import { createHash } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';

export interface BusSnapshot {
  readonly streams: Record<string, { config: string; messages: number | null; lastSeq: number | null; durables: string[] }>;
  readonly keys: Record<string, string>;
}

export interface SnapshotOptions {
  /** Status keys that may change (the attacker's own): left out, and KV_status's counts with them. */
  readonly mutableStatus: readonly string[];
}

/** Reads the whole bus. Throws when JetStream does not answer. */
export async function snapshotBus(nc: NatsConnection, options: SnapshotOptions): Promise<BusSnapshot> {
  const jsm = await jetstreamManager(nc, { timeout: 10_000 });
  const streams: BusSnapshot['streams'] = {};
  const keys: Record<string, string> = {};
  for await (const info of jsm.streams.list()) {
    const name = info.config.name;
    const durables: string[] = [];
    for await (const c of jsm.consumers.list(name)) if (c.config.durable_name !== undefined) durables.push(c.config.durable_name);
    const mutable = name === 'KV_status' && options.mutableStatus.length > 0;
    streams[name] = { config: JSON.stringify(info.config), messages: mutable ? null : info.state.messages, lastSeq: mutable ? null : info.state.last_seq, durables: durables.sort() };
    if (!name.startsWith('KV_')) continue;
    const bucket = name.slice('KV_'.length);
    const kv = await new Kvm(jsm.jetstream()).open(bucket);
    for await (const key of await kv.keys()) {
      if (bucket === 'status' && options.mutableStatus.includes(key)) continue;
      const entry = await kv.get(key);
      keys[`${bucket}/${key}`] = entry === null ? 'none' : `${entry.revision}:${entry.operation}:${createHash('sha256').update(entry.value).digest('hex').slice(0, 16)}`;
    }
  }
  return { streams, keys };
}
