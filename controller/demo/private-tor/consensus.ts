/** The router entries of a network-status document (`GETINFO ns/all`, dir-spec §3.4.1). Pure: no I/O. */

/** One relay as a consensus lists it. */
export interface ConsensusEntry {
  readonly nickname: string;
  readonly flags: readonly string[];
}

/**
 * The relays of a network-status text: each `r <nickname> …` line with the flags of the `s …` line
 * that follows it (none when it has no `s` line).
 */
export function consensusEntries(text: string): ConsensusEntry[] {
  const entries: { nickname: string; flags: string[] }[] = [];
  for (const line of text.split('\n')) {
    const [keyword, first, ...rest] = line.trim().split(/\s+/);
    if (keyword === 'r' && first !== undefined) entries.push({ nickname: first, flags: [] });
    else if (keyword === 's' && entries.length > 0) entries[entries.length - 1]?.flags.push(...[first, ...rest].filter((f): f is string => f !== undefined && f !== ''));
  }
  return entries;
}

/**
 * The nicknames among `wanted` that `entries` does not list with every flag of `flags` (in the
 * order of `wanted`). Empty when the consensus has them all.
 */
export function missingFromConsensus(entries: readonly ConsensusEntry[], wanted: readonly string[], flags: readonly string[]): string[] {
  return wanted.filter((nickname) => !entries.some((e) => e.nickname === nickname && flags.every((f) => e.flags.includes(f))));
}
