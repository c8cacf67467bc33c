/**
 * Moves back: a local search over a finished placement that keeps more instances where they were
 * (a re-plan that holds the previous placement). An instance that moved goes back to its previous
 * device when every rule still holds (placement-rules.ts), alone or by trading places with an
 * instance there that did not keep its own device anyway. Each change keeps strictly more instances, so
 * the search ends; a budget of rule checks bounds it on large fleets. Pure and deterministic.
 */
import { instanceId, type GroupInfo, type Model } from './model.ts';
import type { GroupPlacement } from './place-group.ts';
import { keepsEveryRule } from './placement-rules.ts';

/** Rule checks one search may spend (each is linear in the fleet's instances). */
export const KEEP_MORE_CHECKS = 4_000;

interface Slot {
  readonly group: number;
  readonly kind: 'smp' | 'xftp';
  readonly ordinal: number;
  /** Where the instance was (undefined: a new instance, or its device left the fleet). */
  readonly previous: number | undefined;
}

export function keepMore(
  model: Model,
  groups: readonly GroupInfo[],
  placements: ReadonlyMap<number, GroupPlacement>,
  previous: ReadonlyMap<string, number>,
  budget = KEEP_MORE_CHECKS,
): Map<number, GroupPlacement> {
  let current = new Map(placements);
  const slots: Slot[] = groups.flatMap((g) => (['smp', 'xftp'] as const).flatMap((kind) =>
    Array.from({ length: kind === 'smp' ? g.smp : g.xftp }, (_, ordinal) => ({ group: g.index, kind, ordinal, previous: previous.get(instanceId(g.id, kind, ordinal + 1)) }))));
  const at = (p: ReadonlyMap<number, GroupPlacement>, s: Slot) => p.get(s.group)?.[s.kind][s.ordinal];
  const kept = (p: ReadonlyMap<number, GroupPlacement>, s: Slot) => s.previous !== undefined && at(p, s) === s.previous;
  let checks = 0;
  const tryPlacing = (changes: readonly (readonly [Slot, number])[]): boolean => {
    if (checks >= budget) return false;
    checks++;
    const next = new Map(current);
    for (const [s, d] of changes) {
      const p = next.get(s.group);
      if (p === undefined) return false;
      const list = [...p[s.kind]];
      list[s.ordinal] = d;
      next.set(s.group, { ...p, [s.kind]: list });
    }
    if (!keepsEveryRule(model, groups, next)) return false;
    current = next;
    return true;
  };
  let improved = true;
  while (improved && checks < budget) {
    improved = false;
    for (const x of slots) {
      const back = x.previous;
      const now = at(current, x);
      if (back === undefined || now === undefined || now === back || model.devices[back]?.state !== 'active') continue;
      if (tryPlacing([[x, back]])) {
        improved = true;
        continue;
      }
      // Trade places with an instance on `back` that is not where it was anyway.
      if (slots.some((y) => y !== x && at(current, y) === back && !kept(current, y) && tryPlacing([[x, back], [y, now]]))) improved = true;
    }
  }
  return current;
}
