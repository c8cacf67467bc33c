/**
 * Typed errors. Each carries a stable `code`, the process exit code a CLI maps it to, an optional
 * `hint` that says how to fix the problem, and the underlying `cause`. Only a CLI's main() turns
 * them into exit codes.
 */

/**
 * Exit codes of both CLIs (fleet-spec.md): 0 ok · 1 failed (also any internal error) ·
 * 2 invalid input, nothing changed · 3 plan refused · 4 unreachable. fleet-spec.md fixes `probe` to
 * 0 · 1 · 4: an identity alarm exits 1 and is told apart by `"verdict": "alarm"` in `--json`.
 */
export const EXIT = {
  ok: 0,
  failed: 1,
  invalid: 2,
  refused: 3,
  unreachable: 4,
  /** Ctrl-C (SIGINT, SIGTERM, SIGHUP) ended a command that first stopped what it started (`onionfleet demo`). */
  interrupted: 130,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export interface ErrorOptions {
  readonly cause?: unknown;
  readonly hint?: string;
}

/** Base class: never thrown directly. */
export abstract class OnionfleetError extends Error {
  abstract readonly code: string;
  abstract readonly exitCode: ExitCode;
  readonly hint: string | undefined;
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = new.target.name;
    this.hint = options.hint;
  }
}

/** One problem in one input: a file (or flag) and, where known, a field path or a line and column. */
export interface Problem {
  readonly source: string;
  readonly path?: string;
  readonly line?: number;
  readonly col?: number;
  readonly message: string;
}

/** Renders a problem as the one line the CLI contract prescribes: `FILE: path: message` or `FILE:line:col: message`. */
export function formatProblem(p: Problem): string {
  if (p.line !== undefined) return `${p.source}:${p.line}:${p.col ?? 1}: ${p.message}`;
  if (p.path !== undefined && p.path !== '') return `${p.source}: ${p.path}: ${p.message}`;
  return `${p.source}: ${p.message}`;
}

/** User input (a file, a flag, a message) is invalid. Nothing was changed. Exit 2. */
export class InvalidInputError extends OnionfleetError {
  readonly code = 'invalid-input';
  readonly exitCode = EXIT.invalid;
  readonly problems: readonly Problem[];
  constructor(problems: readonly Problem[], options: ErrorOptions = {}) {
    super(problems.map(formatProblem).join('\n'), options);
    this.problems = problems;
  }
}

/** The planner found no placement that satisfies every rule. Nothing was published. Exit 3. */
export class PlanRefusedError extends OnionfleetError {
  readonly code = 'plan-infeasible';
  readonly exitCode = EXIT.refused;
  readonly explanations: readonly string[];
  constructor(explanations: readonly string[], options: ErrorOptions = {}) {
    super(explanations.join('\n'), options);
    this.explanations = explanations;
  }
}

/** A file or process the command needs could not be read, written or run. Exit 1. */
export class OperationFailedError extends OnionfleetError {
  readonly code: string;
  readonly exitCode = EXIT.failed;
  constructor(code: string, message: string, options: ErrorOptions = {}) {
    super(message, options);
    this.code = code;
  }
}
