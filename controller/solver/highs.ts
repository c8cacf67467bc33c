/**
 * Loads the exact core's MIP solver: HiGHS compiled to WebAssembly (npm `highs`, MIT). Loading
 * takes a few tens of milliseconds, so only the commands that plan load it, once per process.
 *
 * The WebAssembly file is found next to the built controller (deploy/build.mjs copies it to
 * deploy/dist/controller/) or, in a checkout, in node_modules.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { MipSolver } from '../planner/exact.ts';

let loading: Promise<MipSolver> | null = null;

export function loadSolver(): Promise<MipSolver> {
  loading ??= (async () => {
    const wasm = wasmPath();
    // `highs` resolves to its ES module at run time, whose default export is the loader; its
    // declarations describe the CommonJS build, hence the cast.
    const module = (await import('highs')) as unknown as { default: (options: { locateFile: (file: string) => string }) => Promise<MipSolver> };
    return module.default({ locateFile: () => wasm });
  })();
  return loading;
}

function wasmPath(): string {
  for (const candidate of ['./highs.wasm', '../highs.wasm']) {
    const file = fileURLToPath(new URL(candidate, import.meta.url));
    if (existsSync(file)) return file;
  }
  return createRequire(import.meta.url).resolve('highs/runtime');
}

/** A solver that adds up the time its solves take, for `plan --json`'s `solver.ms` (the planner has no clock). */
export function timedSolver(solver: MipSolver): { readonly solver: MipSolver; readonly ms: () => number } {
  let total = 0;
  return {
    solver: {
      solve(lp, options) {
        const start = performance.now();
        try {
          return solver.solve(lp, options);
        } finally {
          total += performance.now() - start;
        }
      },
    },
    ms: () => Math.round(total),
  };
}
