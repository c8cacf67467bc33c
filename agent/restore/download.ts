/**
 * The agent fetches the restore downloads its desired state names (docs/continuity.md, "Restores
 * larger than a desired state") before it applies that state: part by part, each asked for on
 * `up.restore` and answered by the gateway on `down.restore`, opened here (sealed to this device,
 * signed by the controller) and handed to whoever stages it — the agent itself, or behind it the
 * root applier, which opens it again. One part at a time, each with a deadline; a download that does
 * not complete is tried again at the next apply (not sooner than RETRY_AFTER_MS), and meanwhile the
 * instance waits un-restored (agent/reconcile/plan.ts says so in the status).
 */
import type { Logger } from '#shared/log.ts';
import type { DesiredState } from '#shared/schema/desired-state.ts';
import { downloadsIn, refOf, type StoreLogDownload } from '#shared/schema/store-log-download.ts';
import type { Applier } from '../applier/client.ts';
import type { ApplierAnswer } from '../applier/protocol.ts';
import { completeDownloads, openRestorePart, stageRestorePart, type PartKeys } from './staging.ts';

/** Where parts go: the agent's own root, or the applier. */
export interface DownloadStage {
  /** The references among `downloads` whose parts are all staged. */
  complete(downloads: readonly StoreLogDownload[]): Promise<ReadonlySet<string>>;
  /** Stages one sealed part of `download`. */
  stage(sealed: Uint8Array, download: StoreLogDownload): Promise<void>;
}

/** What the agent asks and hears on its bus link (shared/nats/device-link.ts). */
export interface RestoreLink {
  requestRestorePart(ref: string, index: number): void;
  onRestorePart(handler: (sealed: Uint8Array) => void): void;
}

/** How long one part may take to come, over Tor (256 KiB). */
export const PART_DEADLINE_MS = 90_000;
/** A download that failed is not tried again sooner than this. */
export const RETRY_AFTER_MS = 60_000;
const TRIES_PER_PART = 2;

export class RestoreDownloader {
  readonly #link: RestoreLink;
  readonly #keys: PartKeys;
  readonly #stage: DownloadStage;
  readonly #log: Logger;
  readonly #partDeadlineMs: number;
  /** Waiting for a part: `<ref>.<index>` → who gets it. */
  readonly #waiting = new Map<string, (sealed: Uint8Array) => void>();
  readonly #failedAt = new Map<string, number>();
  /** Downloads known whole (staged parts stay while the desired state names them): never asked about again. */
  readonly #whole = new Set<string>();

  constructor(options: { link: RestoreLink; keys: PartKeys; stage: DownloadStage; log: Logger; partDeadlineMs?: number }) {
    this.#link = options.link;
    this.#keys = options.keys;
    this.#stage = options.stage;
    this.#log = options.log;
    this.#partDeadlineMs = options.partDeadlineMs ?? PART_DEADLINE_MS;
    this.#link.onRestorePart((sealed) => { void this.#heard(sealed); });
  }

  /**
   * Fetches every download `desired` names that is not whole yet. Resolves when each is whole or
   * failed (logged); never throws.
   */
  async fetch(desired: Pick<DesiredState, 'instances'>): Promise<void> {
    // A heartbeat re-applies the same document: what is known whole costs nothing (behind the applier, a request each).
    const named = downloadsIn(desired).filter((d) => !this.#whole.has(refOf(d)));
    if (named.length === 0) return;
    try {
      for (const ref of await this.#stage.complete(named)) this.#whole.add(ref);
    } catch (err) {
      this.#log.warn(`restore downloads: cannot read what is staged: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    for (const download of named) {
      const ref = refOf(download);
      if (this.#whole.has(ref) || Date.now() - (this.#failedAt.get(ref) ?? -Infinity) < RETRY_AFTER_MS) continue;
      try {
        await this.#fetchOne(download);
        this.#whole.add(ref);
        this.#failedAt.delete(ref);
        this.#log.info({ ref, parts: download.parts, bytes: download.bytes }, `restore download ${ref} fetched (${download.parts} parts, ${Math.ceil(download.bytes / 1024)} KiB)`);
      } catch (err) {
        this.#failedAt.set(ref, Date.now());
        this.#log.warn({ ref }, `restore download ${ref} not fetched: ${err instanceof Error ? err.message : String(err)}; tried again at the next apply`);
      }
    }
  }

  async #fetchOne(download: StoreLogDownload): Promise<void> {
    const ref = refOf(download);
    for (let index = 0; index < download.parts; index++) {
      let sealed: Uint8Array | null = null;
      for (let attempt = 1; attempt <= TRIES_PER_PART && sealed === null; attempt++) sealed = await this.#ask(ref, index);
      if (sealed === null) throw new Error(`part ${index + 1} of ${download.parts} did not come within ${this.#partDeadlineMs / 1000} s (${TRIES_PER_PART} tries)`);
      await this.#stage.stage(sealed, download);
    }
    const whole = await this.#stage.complete([download]);
    if (!whole.has(ref)) throw new Error('its parts do not make the log the desired state names');
  }

  /** Asks for one part; resolves with it, or null after the deadline. */
  #ask(ref: string, index: number): Promise<Uint8Array | null> {
    const key = `${ref}.${index}`;
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.#waiting.delete(key); resolve(null); }, this.#partDeadlineMs);
      this.#waiting.set(key, (sealed) => { clearTimeout(timer); this.#waiting.delete(key); resolve(sealed); });
      try {
        this.#link.requestRestorePart(ref, index);
      } catch {
        clearTimeout(timer);
        this.#waiting.delete(key);
        resolve(null);
      }
    });
  }

  /** A part the gateway sent: given to whoever waits for it once it opened; anything else dropped. */
  async #heard(sealed: Uint8Array): Promise<void> {
    try {
      const part = await openRestorePart(sealed, this.#keys);
      this.#waiting.get(`${part.ref}.${part.index}`)?.(sealed);
    } catch (err) {
      this.#log.warn(`restore downloads: dropped a part that does not open: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}

/** Parts staged by the applier (it opens each itself), or below `root` by the agent when it runs alone. */
export function downloadStage(applier: { stage: Applier['stage']; staged: Applier['staged'] } | undefined, root: string, keys: PartKeys): DownloadStage {
  if (applier === undefined) {
    return {
      complete: (downloads) => completeDownloads(root, downloads),
      async stage(sealed) { await stageRestorePart(root, sealed, keys); },
    };
  }
  const completeOf = (answer: ApplierAnswer): ReadonlySet<string> => {
    if (answer.kind === 'staged') return new Set(answer.complete);
    throw new Error(`the applier did not stage it: ${answer.kind === 'failed' || answer.kind === 'rejected' ? answer.message : answer.kind}`);
  };
  return {
    complete: async (downloads) => completeOf(await applier.staged(downloads)),
    async stage(sealed, download) { completeOf(await applier.stage(sealed, download)); },
  };
}
