/** Property-test run counts: the given default, scaled by PROPERTY_RUNS_FACTOR for a deeper soak. */
export function runs(base: number): number {
  const factor = Number(process.env.PROPERTY_RUNS_FACTOR ?? '1');
  return Math.max(1, Math.round(base * (Number.isFinite(factor) && factor > 0 ? factor : 1)));
}
