/**
 * The boot hold, its pure part (docs/continuity.md, "A device that comes back"). A device that was
 * off — declared lost, or away while its instances moved with their identities — must not serve a
 * stale copy of an onion another device now serves. A Pi has no real-time clock (fake-hwclock: at
 * boot its clock reads "just before shutdown"), so how long it was off cannot be known; it therefore
 * holds back, at every boot, each instance whose group allows identity copies (the only ones that can
 * be served elsewhere), until the controller confirms it — or, failing any word from the controller,
 * until the group's `holdAtBoot` of uptime has passed (`forever`: never by itself).
 */
import { CONTINUITY_DEFAULTS } from '#shared/schema/continuity.ts';
import type { DesiredState, InstanceKind } from '#shared/schema/desired-state.ts';
import { PATHS } from '../render/paths.ts';

export interface HeldInstance {
  readonly id: string;
  readonly kind: InstanceKind;
  /** Uptime after which the device serves it again by itself; null: only the controller releases it. */
  readonly holdAtBootSeconds: number | null;
}

/** What to hold from the last applied desired state: every instance whose group allows identity copies, sorted by id. */
export function instancesToHold(desired: DesiredState): HeldInstance[] {
  return desired.instances
    .filter((i) => i.continuity?.identityCopies === true)
    .map((i) => ({
      id: i.id,
      kind: i.kind,
      holdAtBootSeconds: i.continuity?.holdAtBootSeconds === undefined ? CONTINUITY_DEFAULTS[i.tier].holdAtBootSeconds : i.continuity.holdAtBootSeconds,
    }))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** The first line of a fragment the hold rewrote (the reconcile writes the whole fragment again when it releases). */
export const HELD_NOTE = '# onionfleet-agent hold: onion services held back at boot are left out until the controller confirms them.';

/**
 * tor's fragment without the onion services of `ids`: each `HiddenServiceDir` of a held instance, the
 * `HiddenService*` lines that follow it (tor applies them to the last HiddenServiceDir) and the
 * comment lines just before it are left out; everything else stays as it was. Unchanged when none
 * of `ids` is in it.
 */
export function fragmentWithout(fragment: string, ids: readonly string[]): string {
  const heldDir = (line: string) => {
    const m = /^\s*HiddenServiceDir\s+(\S+)\s*$/.exec(line);
    return m?.[1] !== undefined && ids.some((id) => m[1]?.endsWith(PATHS.onionDir(id)) === true);
  };
  const lines = fragment.split('\n');
  if (!lines.some(heldDir)) return fragment;
  const kept: string[] = [];
  let dropping = false;
  for (const line of lines) {
    if (/^\s*HiddenServiceDir\s/.test(line)) {
      dropping = heldDir(line);
      if (dropping) while (kept.length > 0 && /^\s*#/.test(kept[kept.length - 1] ?? '')) kept.pop();
    } else if (!/^\s*HiddenService/.test(line)) {
      dropping = false;
    }
    if (!dropping) kept.push(line);
  }
  // No runs of blank lines where blocks were.
  const text = kept.join('\n').replace(/\n{3,}/g, '\n\n');
  return text.startsWith(HELD_NOTE) ? text : `${HELD_NOTE}\n${text}`;
}

/** The held instances whose hold has run out at `uptimeSeconds` of uptime. */
export function dueForRelease(held: readonly HeldInstance[], uptimeSeconds: number): string[] {
  return held.filter((h) => h.holdAtBootSeconds !== null && uptimeSeconds >= h.holdAtBootSeconds).map((h) => h.id);
}

/** Seconds until the next held instance is due (0: one is due now); null when none ever is. */
export function secondsUntilNextRelease(held: readonly HeldInstance[], uptimeSeconds: number): number | null {
  const limits = held.map((h) => h.holdAtBootSeconds).filter((s): s is number => s !== null);
  return limits.length === 0 ? null : Math.max(0, Math.min(...limits) - uptimeSeconds);
}
