/**
 * The placement problem as a mixed-integer program, written in CPLEX LP format for the solver
 * (HiGHS). Instances of one group and kind are interchangeable, so the variables are counts per
 * (group, kind, device), not per instance: the model stays small (a few variables per group and
 * device) and has none of the symmetry a per-instance model would.
 *
 * Variables (g: group, d: active device with room for one instance, o/l/j: operator/location/jurisdiction):
 *   s_g_d  integer  the group's SMP instances on d (≤ the tier's per-device cap)
 *   f_g_d  integer  the group's XFTP instances on d
 *   u_g_d  binary   the group uses d (1 exactly when s + f > 0)
 *   a_g_d  binary   d holds the group's SMP (only where the tier keeps XFTP apart)
 *   sh_d   binary   d is open to shared groups (only where a dedicated group could take it)
 *   o_g_o, l_g_l, j_g_j  binary  the operator (location, jurisdiction) holds some of the group's SMP
 *   ks_g_d, kf_g_d  continuous  instances kept on d from the previous placement (≤ before, ≤ now)
 *
 * Rules (docs/reference/fleet-yaml.md, "Tier rules"): exact counts; per-device slots and memory;
 * the tier's per-operator cap and distinct operators, locations and jurisdictions; XFTP apart from
 * the group's SMP; a dedicated group's devices hold no other group. Only active devices have
 * variables at all.
 *
 * Objective, lexicographic through weights: most instances kept (fewest moves), then the spread
 * the heuristic prefers — a shared group over more devices, a dedicated group over fewer.
 */
import type { GroupInfo, Model } from './model.ts';
import { instanceId } from './model.ts';
import { MEMORY_MB } from './tier-rules.ts';

export interface ExactCell {
  readonly group: number;
  readonly device: number;
  readonly smpMax: number;
  readonly xftpMax: number;
}

export interface ExactModel {
  readonly lp: string;
  readonly cells: readonly ExactCell[];
  /** The most instances any placement could keep: each cell keeps at most what it had and what it can hold. */
  readonly keepable: number;
  /** Previous instances of the groups (ordinals that still exist), each of which is kept or moved. */
  readonly previousInstances: number;
  /** The absolute optimality gap that still proves the fewest moves. */
  readonly movesGap: number;
  /** A rule no assignment can meet (a group with no usable device): infeasible without solving. */
  readonly impossible: boolean;
  readonly columns: number;
  readonly rows: number;
}

/** Variable names: short, and unique per role and indices. */
export const col = {
  smp: (c: ExactCell) => `s${c.group}_${c.device}`,
  xftp: (c: ExactCell) => `f${c.group}_${c.device}`,
  uses: (c: ExactCell) => `u${c.group}_${c.device}`,
  apart: (c: ExactCell) => `a${c.group}_${c.device}`,
  keptSmp: (c: ExactCell) => `ks${c.group}_${c.device}`,
  keptXftp: (c: ExactCell) => `kf${c.group}_${c.device}`,
};

/** How many of a group's previous instances of one kind were on each device (surviving ordinals only). */
export function previousCounts(g: GroupInfo, kind: 'smp' | 'xftp', previous: ReadonlyMap<string, number>): Map<number, number> {
  const counts = new Map<number, number>();
  for (let i = 1; i <= (kind === 'smp' ? g.smp : g.xftp); i++) {
    const d = previous.get(instanceId(g.id, kind, i));
    if (d !== undefined) counts.set(d, (counts.get(d) ?? 0) + 1);
  }
  return counts;
}

/** Number of a group's current ordinals that the previous placement had somewhere (on any device, even one gone). */
function previousSurvivors(g: GroupInfo, previousIds: ReadonlySet<string>): number {
  let n = 0;
  for (let i = 1; i <= g.smp; i++) if (previousIds.has(instanceId(g.id, 'smp', i))) n++;
  for (let i = 1; i <= g.xftp; i++) if (previousIds.has(instanceId(g.id, 'xftp', i))) n++;
  return n;
}

/** A coefficient and a variable. */
type Term = readonly [number, string];
const one = (name: string): Term => [1, name];

class Lines {
  readonly out: string[] = [];
  rows = 0;
  /** Set when a constraint has no variable and cannot hold (e.g. a group with no usable device). */
  impossible = false;
  /** One constraint; long sums are broken over lines (the LP format allows it). */
  row(name: string, terms: readonly Term[], sense: '<=' | '>=' | '=', rhs: number): void {
    if (terms.length === 0) {
      if ((sense === '<=' && rhs < 0) || (sense === '>=' && rhs > 0) || (sense === '=' && rhs !== 0)) this.impossible = true;
      return;
    }
    this.rows++;
    this.out.push(` ${name}: ${sum(terms)} ${sense} ${rhs}`);
  }
}

/** `a + 2 b - c`, broken into lines of 16 terms. */
function sum(terms: readonly Term[]): string {
  return terms
    .map(([k, name], i) => {
      const sign = k < 0 ? '-' : i === 0 ? '' : '+';
      const magnitude = Math.abs(k) === 1 ? name : `${Math.abs(k)} ${name}`;
      return `${i > 0 && i % 16 === 0 ? '\n  ' : ''}${sign}${sign === '' ? '' : ' '}${magnitude}`;
    })
    .join(' ');
}

/**
 * `minKept`, when given, asks only for placements that keep at least that many instances (the
 * heuristic's answer plus one): the solver then prunes everything no better than what is in hand,
 * and "infeasible" proves the heuristic's answer has the fewest moves.
 */
export function buildExactModel(
  model: Model,
  groups: readonly GroupInfo[],
  previous: ReadonlyMap<string, number>,
  previousIds: ReadonlySet<string>,
  minKept?: number,
): ExactModel {
  const usable = model.devices.filter((d) => d.state === 'active' && d.maxInstances > 0 && d.memoryMb - MEMORY_MB.deviceBase >= MEMORY_MB.smp);
  const cells: ExactCell[] = [];
  const cellsOfGroup = new Map<number, ExactCell[]>();
  const cellsOfDevice = new Map<number, ExactCell[]>();
  for (const g of groups) {
    const list: ExactCell[] = [];
    for (const d of usable) {
      const room = Math.min(d.maxInstances, Math.floor((d.memoryMb - MEMORY_MB.deviceBase) / MEMORY_MB.smp));
      const cell: ExactCell = {
        group: g.index,
        device: d.index,
        smpMax: Math.min(g.rules.maxPerDevice, g.smp, room),
        xftpMax: Math.min(g.xftp, d.maxInstances, Math.floor((d.memoryMb - MEMORY_MB.deviceBase) / MEMORY_MB.xftp)),
      };
      if (cell.smpMax === 0 && (g.xftp === 0 || cell.xftpMax === 0)) continue;
      list.push(cell);
      cells.push(cell);
      const onDevice = cellsOfDevice.get(d.index) ?? [];
      onDevice.push(cell);
      cellsOfDevice.set(d.index, onDevice);
    }
    cellsOfGroup.set(g.index, list);
  }

  const c = new Lines();
  const binaries: string[] = [];
  const generals: string[] = [];
  const bounds: string[] = [];
  const objective: Term[] = [];
  const kept: string[] = [];
  let spreadTerms = 0;
  let previousInstances = 0;
  let keepable = 0;

  for (const g of groups) {
    const list = cellsOfGroup.get(g.index) ?? [];
    const smpBefore = previousCounts(g, 'smp', previous);
    const xftpBefore = previousCounts(g, 'xftp', previous);
    previousInstances += previousSurvivors(g, previousIds);
    const apart = g.rules.xftpApart && g.xftp > 0;
    c.row(`smp${g.index}`, list.filter((x) => x.smpMax > 0).map((x) => one(col.smp(x))), '=', g.smp);
    if (g.xftp > 0) c.row(`xftp${g.index}`, list.filter((x) => x.xftpMax > 0).map((x) => one(col.xftp(x))), '=', g.xftp);
    for (const cell of list) {
      const s = col.smp(cell);
      const f = col.xftp(cell);
      const u = col.uses(cell);
      const hasSmp = cell.smpMax > 0;
      const hasXftp = g.xftp > 0 && cell.xftpMax > 0;
      if (hasSmp) {
        generals.push(s);
        bounds.push(` 0 <= ${s} <= ${cell.smpMax}`);
      }
      if (hasXftp) {
        generals.push(f);
        bounds.push(` 0 <= ${f} <= ${cell.xftpMax}`);
      }
      binaries.push(u);
      const used: Term[] = [...(hasSmp ? [one(s)] : []), ...(hasXftp ? [one(f)] : [])];
      // u = 1 exactly when the group has an instance on the device.
      c.row(`use${g.index}_${cell.device}`, [...used, [-(cell.smpMax + cell.xftpMax), u]], '<=', 0);
      c.row(`any${g.index}_${cell.device}`, [...used, [-1, u]], '>=', 0);
      objective.push([g.dedicated ? -1 : 1, u]);
      spreadTerms++;
      if (apart && hasSmp && hasXftp) {
        const a = col.apart(cell);
        binaries.push(a);
        c.row(`smpOn${g.index}_${cell.device}`, [one(s), [-cell.smpMax, a]], '<=', 0);
        c.row(`apart${g.index}_${cell.device}`, [one(f), [cell.xftpMax, a]], '<=', cell.xftpMax);
      }
      const ks = smpBefore.get(cell.device) ?? 0;
      keepable += Math.min(ks, hasSmp ? cell.smpMax : 0) + Math.min(xftpBefore.get(cell.device) ?? 0, hasXftp ? cell.xftpMax : 0);
      if (ks > 0 && hasSmp) {
        const k = col.keptSmp(cell);
        bounds.push(` 0 <= ${k} <= ${ks}`);
        c.row(`keepS${g.index}_${cell.device}`, [one(k), [-1, s]], '<=', 0);
        // Redundant for integers, but it makes the relaxation pay for a device a group gives up.
        c.row(`keepSU${g.index}_${cell.device}`, [one(k), [-ks, u]], '<=', 0);
        kept.push(k);
      }
      const kf = xftpBefore.get(cell.device) ?? 0;
      if (kf > 0 && hasXftp) {
        const k = col.keptXftp(cell);
        bounds.push(` 0 <= ${k} <= ${kf}`);
        c.row(`keepF${g.index}_${cell.device}`, [one(k), [-1, f]], '<=', 0);
        c.row(`keepFU${g.index}_${cell.device}`, [one(k), [-kf, u]], '<=', 0);
        kept.push(k);
      }
    }
    spreadRules(c, model, g, list, binaries);
  }

  for (const [d, list] of cellsOfDevice) {
    const dev = model.devices[d];
    if (dev === undefined) continue;
    c.row(`slots${d}`, list.flatMap((x) => instanceTerms(model, x, 1, 1)), '<=', dev.maxInstances);
    c.row(`memory${d}`, list.flatMap((x) => instanceTerms(model, x, MEMORY_MB.smp, MEMORY_MB.xftp)), '<=', dev.memoryMb - MEMORY_MB.deviceBase);
    // Who may use d: one dedicated group, or any number of shared groups (shared_d = 1), never both.
    // As a clique over owners this is far tighter than excluding pairs with a big M.
    const dedicated = list.filter((x) => model.groups[x.group]?.dedicated === true);
    const shared = list.filter((x) => model.groups[x.group]?.dedicated !== true);
    if (dedicated.length > 0 && dedicated.length + (shared.length > 0 ? 1 : 0) > 1) {
      const sharedOn = `sh${d}`;
      if (shared.length > 0) {
        binaries.push(sharedOn);
        for (const x of shared) c.row(`sharedOn${x.group}_${d}`, [one(col.uses(x)), [-1, sharedOn]], '<=', 0);
      }
      c.row(`owner${d}`, [...dedicated.map((x) => one(col.uses(x))), ...(shared.length > 0 ? [one(sharedOn)] : [])], '<=', 1);
      // The device's room is split between its owners: a relaxation that gives a dedicated group
      // 0.9 of a device leaves shared groups 0.1 of its slots and memory, not all of them.
      const owners: [readonly ExactCell[], string][] = [...dedicated.map((x): [readonly ExactCell[], string] => [[x], col.uses(x)]), ...(shared.length > 0 ? [[shared, sharedOn] as [readonly ExactCell[], string]] : [])];
      for (const [cellsOwned, owner] of owners) {
        const first = cellsOwned[0];
        if (first === undefined) continue;
        c.row(`ownSlots${first.group}_${d}`, [...cellsOwned.flatMap((x) => instanceTerms(model, x, 1, 1)), [-dev.maxInstances, owner]], '<=', 0);
        c.row(`ownMemory${first.group}_${d}`, [...cellsOwned.flatMap((x) => instanceTerms(model, x, MEMORY_MB.smp, MEMORY_MB.xftp)), [-(dev.memoryMb - MEMORY_MB.deviceBase), owner]], '<=', 0);
      }
    }
  }

  if (minKept !== undefined) c.row('better', kept.map(one), '>=', minKept);

  // The spread terms add up to at most `spreadTerms` in either direction; with a kept instance worth
  // more than twice that, a solver gap of `spreadTerms + 0.5` still proves the number of moves
  // exactly while leaving the spread (a preference) to whatever good answer it has.
  const keepWeight = 2 * spreadTerms + 2;
  const lp = [
    'Maximize',
    ` obj: ${sum([...kept.map((k): Term => [keepWeight, k]), ...objective])}`,
    'Subject To',
    ...c.out,
    'Bounds',
    ...bounds,
    'Generals',
    ...wrap(generals),
    'Binaries',
    ...wrap(binaries),
    'End',
    '',
  ].join('\n');
  return { lp, cells, keepable, previousInstances, movesGap: spreadTerms + 0.5, impossible: c.impossible, columns: generals.length + binaries.length + kept.length, rows: c.rows };
}

/** Distinct operators, locations and jurisdictions, and the per-operator cap. */
function spreadRules(c: Lines, model: Model, g: GroupInfo, list: readonly ExactCell[], binaries: string[]): void {
  const { rules } = g;
  const byKey = (key: (d: number) => number) => {
    const groups = new Map<number, Term[]>();
    for (const cell of list) {
      if (cell.smpMax === 0) continue;
      const k = key(cell.device);
      const names = groups.get(k) ?? [];
      names.push(one(col.smp(cell)));
      groups.set(k, names);
    }
    return groups;
  };
  const distinct = (prefix: string, key: (d: number) => number, minimum: number) => {
    if (minimum <= 1) return;
    const held: Term[] = [];
    for (const [k, names] of byKey(key)) {
      const h = `${prefix}${g.index}_${k}`;
      binaries.push(h);
      held.push(one(h));
      c.row(`${prefix}Held${g.index}_${k}`, [...names, [-1, h]], '>=', 0);
    }
    c.row(`${prefix}Min${g.index}`, held, '>=', minimum);
  };
  const dev = (d: number) => model.devices[d];
  distinct('o', (d) => dev(d)?.operator ?? -1, rules.minOperators);
  distinct('l', (d) => dev(d)?.location ?? -1, rules.minLocations);
  distinct('j', (d) => dev(d)?.jurisdiction ?? -1, rules.minJurisdictions);
  if (rules.maxPerOperator < g.smp) {
    for (const [op, names] of byKey((d) => dev(d)?.operator ?? -1)) c.row(`opCap${g.index}_${op}`, names, '<=', rules.maxPerOperator);
  }
}

/** The cell's SMP and XFTP count variables, weighted (1 for slots, MB for memory). */
function instanceTerms(model: Model, x: ExactCell, smpWeight: number, xftpWeight: number): Term[] {
  const hasXftp = (model.groups[x.group]?.xftp ?? 0) > 0 && x.xftpMax > 0;
  return [...(x.smpMax > 0 ? [[smpWeight, col.smp(x)] as const] : []), ...(hasXftp ? [[xftpWeight, col.xftp(x)] as const] : [])];
}

function wrap(names: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < names.length; i += 16) out.push(` ${names.slice(i, i + 16).join(' ')}`);
  return out;
}
