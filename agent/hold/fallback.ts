/**
 * The agent's side of the boot hold's fallback (see release.ts): while instances are held and no
 * word comes from the controller, it asks for their release when the first one's `holdAtBoot` of
 * uptime runs out, and again for the next. It starts before the agent connects to anything (the
 * controller may be away for good); a release by the controller first leaves it nothing to ask.
 */
import type { Logger } from '#shared/log.ts';
import { heldNow, uptimeSeconds } from './markers.ts';
import { secondsUntilNextRelease } from './plan.ts';

export interface HoldFallbackOptions {
  /** The root below which the hold's files are (the device's root: they are readable by the agent). */
  readonly root: string;
  readonly log: Logger;
  readonly signal: AbortSignal;
  /** Asks for the release of what is due (the applier's `release`, or the same in this process); resolves true when anything was released. */
  readonly release: () => Promise<boolean>;
}

/** Starts the watch; it ends by itself when nothing held is ever due, or with `signal`. */
export function watchHoldFallback(o: HoldFallbackOptions): void {
  let timer: NodeJS.Timeout | undefined;
  /** After a request that released nothing (the applier disagreed), the next one waits this long at least. */
  let backOff = 0;
  o.signal.addEventListener('abort', () => { clearTimeout(timer); }, { once: true });
  const schedule = async (): Promise<void> => {
    if (o.signal.aborted) return;
    const held = await heldNow(o.root);
    const wait = secondsUntilNextRelease(held, await uptimeSeconds());
    if (wait === null) return;
    if (held.length > 0 && wait > 0) o.log.info({ instances: held.length, seconds: Math.ceil(wait) }, `${held.length} instance(s) held at boot until the controller confirms them (or for ${Math.ceil(wait)} s more of uptime)`);
    // A second more than due: the applier reads the uptime itself, and must find it due too.
    timer = setTimeout(() => {
      void o.release()
        .catch((err: unknown) => {
          o.log.warn(`the boot hold's release failed: ${err instanceof Error ? err.message : String(err)}`);
          return false;
        })
        .then((released) => {
          backOff = released ? 0 : 60;
          return schedule();
        })
        .catch(() => undefined);
    }, Math.ceil(Math.max(wait + 1, backOff)) * 1000);
    timer.unref();
  };
  void schedule().catch((err: unknown) => { o.log.warn(`the boot hold is not watched: ${err instanceof Error ? err.message : String(err)}`); });
}
