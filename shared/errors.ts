/**
 * Typed errors. Each carries a stable `code` from the closed catalogue (error-codes.ts), the process
 * exit code a CLI maps it to, an optional `hint` that says how to fix the problem (the catalogue's
 * when the place that throws has none better), and the underlying `cause`. Only a CLI's main() turns
 * them into exit codes.
 */

import { ERROR_CODES, EXIT, type ErrorCode, type ExitCode } from './error-codes.ts';

export { EXIT, type ErrorCode, type ExitCode } from './error-codes.ts';

export interface ErrorOptions {
  readonly cause?: unknown;
  readonly hint?: string;
}

/** Base class: never thrown directly. */
export abstract class OnionfleetError extends Error {
  abstract readonly code: ErrorCode;
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

/**
 * Any other failure, named by its catalogued `code`: a file or process the command needs could not
 * be read, written or run, a peer refused, a step failed. The exit code and (unless given) the hint
 * come from the catalogue.
 */
export class OperationFailedError extends OnionfleetError {
  readonly code: ErrorCode;
  readonly exitCode: ExitCode;
  constructor(code: ErrorCode, message: string, options: ErrorOptions = {}) {
    const info: { exit: ExitCode; hint?: string } = ERROR_CODES[code];
    super(message, { ...options, hint: options.hint ?? info.hint });
    this.code = code;
    this.exitCode = info.exit;
  }
}

/** Something that must not happen did: a bug, not the user's doing. Exit 1, with the catalogue's hint. */
export class InternalError extends OperationFailedError {
  constructor(message: string, options: Pick<ErrorOptions, 'cause'> = {}) {
    super('internal', message, options);
  }
}
