/**
 * Steps with an undo each, run in order with a progress line per step (`[3/8] uploading …`). When a
 * step fails, the undos of that step and of every earlier one run, newest first, and the step's
 * error is rethrown unchanged (its exit code stands). A step's undo is made just *before* the step
 * runs (so it can look at what was there), hence it must be safe on a step that did only part of
 * its work, or none.
 */
export interface Undo {
  /** Names the undo in the progress. */
  readonly title: string;
  readonly run: () => Promise<void>;
}

export interface Step {
  /** The progress line: what the step does. */
  readonly title: string;
  readonly run: () => Promise<void>;
  /** Makes the step's undo, just before the step runs; null or absent: nothing to revert. */
  readonly undo?: () => Undo | null | Promise<Undo | null>;
}

/** Progress lines (stderr in the CLI); never secrets. */
export type Progress = (line: string) => void;

/** The first line of an error's message: the whole error is printed once, at the end, by the CLI. */
function describe(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0] ?? '';
}

/**
 * Runs `steps`; see the module comment. An undo that fails is reported (with the step it belongs to)
 * and the rollback goes on: the original error is what the caller gets.
 */
export async function runSteps(steps: readonly Step[], progress: Progress): Promise<void> {
  const undos: { index: number; undo: Undo }[] = [];
  for (const [i, step] of steps.entries()) {
    progress(`[${i + 1}/${steps.length}] ${step.title}`);
    try {
      const undo = step.undo === undefined ? null : await step.undo();
      if (undo !== null) undos.push({ index: i + 1, undo });
      await step.run();
    } catch (err) {
      if (undos.length > 0) progress(`[${i + 1}/${steps.length}] failed: ${describe(err)}`);
      await rollBack(undos, steps.length, progress);
      throw err;
    }
  }
}

async function rollBack(undos: readonly { index: number; undo: Undo }[], total: number, progress: Progress): Promise<void> {
  if (undos.length === 0) return;
  progress('rolling back');
  for (const { index, undo } of [...undos].reverse()) {
    progress(`  undo [${index}/${total}] ${undo.title}`);
    try {
      await undo.run();
    } catch (err) {
      // Printed in full: unlike the step's error, nothing else reports it.
      progress(`  could not undo [${index}/${total}] (clean up by hand): ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  progress('rolled back');
}
