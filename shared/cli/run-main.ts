/**
 * The one place a CLI turns errors into exit codes and messages (STYLE.md habit 8). User errors are
 * one line per problem; internal errors one line, with the stack only under --debug.
 */
import { CommanderError, type Command } from 'commander';
import { EXIT, InvalidInputError, OnionfleetError, formatProblem, type ExitCode } from '../errors.ts';
import { processOutput, toJson, type Output } from './output.ts';

/** What a command gets from its CLI: where to write, and how to end with a non-zero result. */
export interface CliContext {
  readonly output: Output;
  /** Sets the exit code for a result that is not an error (e.g. a refused plan, already printed). */
  setExitCode(code: ExitCode): void;
  /**
   * Runs this same CLI again, in this process, on `args` (no node and program name: `['status',
   * '--json']`) with its own output; resolves with its exit code. For verbs made of other verbs (the demo).
   */
  run(args: readonly string[], output: Output): Promise<ExitCode>;
}

/**
 * Builds the program with `build` and runs it on `argv` (process.argv shape).
 * Never throws, never calls process.exit: returns the exit code.
 */
export async function runMain(build: (ctx: CliContext) => Command, argv: readonly string[], output: Output = processOutput): Promise<ExitCode> {
  const debug = argv.includes('--debug');
  const json = argv.includes('--json');
  let code: ExitCode = EXIT.ok;
  const program = build({ output, setExitCode: (c) => (code = c), run: (args, out) => runMain(build, [argv[0] ?? 'node', argv[1] ?? 'cli', ...args], out) });
  program.exitOverride();
  program.configureOutput({ writeOut: output.out, writeErr: output.err, outputError: (text) => {
      output.err(text.trimEnd());
    } });
  // Every command at every depth (`device add`, `bundle open`): usage errors become exit 2.
  const override = (c: Command): void => {
    c.exitOverride();
    c.configureOutput({ writeOut: output.out, writeErr: output.err, outputError: (text) => {
      output.err(text.trimEnd());
    } });
    c.commands.forEach(override);
  };
  program.commands.forEach(override);
  try {
    await program.parseAsync([...argv]);
    return code;
  } catch (err) {
    return report(err, { debug, json, output });
  }
}

function report(err: unknown, { debug, json, output }: { debug: boolean; json: boolean; output: Output }): ExitCode {
  if (err instanceof CommanderError) {
    // Help and --version end with code 0; anything else is a usage error, already printed by commander.
    return err.exitCode === 0 ? EXIT.ok : EXIT.invalid;
  }
  if (err instanceof OnionfleetError) {
    const lines = err instanceof InvalidInputError ? err.problems.map(formatProblem) : [err.message];
    for (const line of lines) output.err(line);
    if (err.hint !== undefined) output.err(`hint: ${err.hint}`);
    if (debug && err.stack !== undefined) output.err(err.stack);
    if (json) {
      const problems = err instanceof InvalidInputError ? { problems: err.problems } : {};
      output.out(toJson({ error: { code: err.code, message: err.message, ...(err.hint ? { hint: err.hint } : {}), ...problems } }));
    }
    return err.exitCode;
  }
  const message = err instanceof Error ? err.message : String(err);
  output.err(`internal error: ${message}${debug ? '' : ' (run with --debug for details)'}`);
  if (debug && err instanceof Error && err.stack !== undefined) output.err(err.stack);
  if (json) output.out(toJson({ error: { code: 'internal', message } }));
  return EXIT.failed;
}
