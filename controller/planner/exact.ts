/**
 * Exact search for small fleets, the last resort after the heuristic attempts: it enumerates, group
 * by group in the given order, how many SMP and XFTP instances each eligible device takes, and
 * backtracks across groups. Complete within its node budget, so on a fleet of a few Pis (the
 * common case: a family, an NGO) "infeasible" means no placement exists.
 */
import { rejectDevice } from './filters.ts';
import { GroupWork } from './group-work.ts';
import { emptyLoad, type GroupInfo, type Load, type Model } from './model.ts';
import type { GroupPlacement } from './place-group.ts';

/** Fleets up to this many devices get the exact search; larger ones rely on the heuristics. */
export const EXACT_MAX_DEVICES = 10;
const NODE_BUDGET = 300_000;

export function exactSearch(model: Model, order: readonly GroupInfo[]): Map<number, GroupPlacement> | null {
  const load = emptyLoad(model);
  const placements = new Map<number, GroupPlacement>();
  let nodes = 0;

  const placeFrom = (k: number): boolean => {
    const g = order[k];
    if (g === undefined) return true;
    const work = new GroupWork(model, load);
    const smpCandidates = model.devices.map((d) => d.index).filter((d) => rejectDevice(work, g, d, 'smp') === null);
    const smpAt: number[] = [];

    const afterSmp = (): boolean => {
      const { rules } = g;
      if (work.operators < rules.minOperators || work.locations < rules.minLocations || work.jurisdictions < rules.minJurisdictions) return false;
      const xftpCandidates = model.devices.map((d) => d.index).filter((d) => rejectDevice(work, g, d, 'xftp') === null);
      const xftpAt: number[] = [];
      const enumXftp = (i: number, left: number): boolean => {
        if (++nodes > NODE_BUDGET) return false;
        if (left === 0) {
          const saved = snapshot(load);
          work.commit(g);
          placements.set(g.index, { smp: [...smpAt], xftp: [...xftpAt] });
          if (placeFrom(k + 1)) return true;
          placements.delete(g.index);
          restore(load, saved);
          return false;
        }
        for (let j = i; j < xftpCandidates.length; j++) {
          const d = xftpCandidates[j] ?? -1;
          if (rejectDevice(work, g, d, 'xftp') !== null) continue;
          work.add(d, 'xftp');
          xftpAt.push(d);
          const found = enumXftp(j, left - 1); // j, not j + 1: a device may take several
          xftpAt.pop();
          work.remove(d, 'xftp');
          if (found) return true;
        }
        return false;
      };
      return enumXftp(0, g.xftp);
    };

    const enumSmp = (i: number, left: number): boolean => {
      if (++nodes > NODE_BUDGET) return false;
      if (left === 0) return afterSmp();
      for (let j = i; j < smpCandidates.length; j++) {
        const d = smpCandidates[j] ?? -1;
        const dev = model.devices[d];
        if (dev === undefined || rejectDevice(work, g, d, 'smp') !== null) continue;
        if ((work.smpOn[d] ?? 0) >= g.rules.maxPerDevice || (work.opCount[dev.operator] ?? 0) >= g.rules.maxPerOperator) continue;
        work.add(d, 'smp');
        smpAt.push(d);
        const found = enumSmp(j, left - 1);
        smpAt.pop();
        work.remove(d, 'smp');
        if (found) return true;
      }
      return false;
    };
    return enumSmp(0, g.smp);
  };

  return placeFrom(0) ? placements : null;
}

function snapshot(load: Load) {
  return { slots: load.slots.slice(), memory: load.memory.slice(), owner: load.owner.slice(), groupsOn: load.groupsOn.slice() };
}

function restore(load: Load, saved: ReturnType<typeof snapshot>): void {
  load.slots.set(saved.slots);
  load.memory.set(saved.memory);
  load.owner.set(saved.owner);
  load.groupsOn.set(saved.groupsOn);
}
