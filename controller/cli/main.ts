/** `onionfleet`, the controller CLI: the program (program.ts) run by the one place that maps errors to exit codes. */
import type { Output } from '#shared/cli/output.ts';
import { runMain } from '#shared/cli/run-main.ts';
import type { ExitCode } from '#shared/errors.ts';
import { buildProgram } from './program.ts';

export { buildProgram } from './program.ts';

export function main(argv: readonly string[], output?: Output): Promise<ExitCode> {
  return runMain(buildProgram, argv, output);
}
