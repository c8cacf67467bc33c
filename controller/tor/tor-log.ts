/** What tor's notice log says: why it stopped, and which lines are worth showing. Pure: no I/O. */

/** Why tor exited before it was ready, as an OperationFailedError code. */
export type TorFailure = 'tor-port-in-use' | 'tor-config-rejected' | 'tor-exited';

/**
 * Classifies an early exit from tor's last log lines: a listener port already taken
 * (`Could not bind to …: Address already in use`), a configuration tor refused
 * (`Failed to parse/validate config`, `Reading config failed`), or anything else.
 */
export function classifyExit(lines: readonly string[]): TorFailure {
  if (lines.some((l) => /Could not bind to .*Address already in use/.test(l))) return 'tor-port-in-use';
  if (lines.some((l) => /Failed to parse\/validate config|Reading config failed/.test(l))) return 'tor-config-rejected';
  return 'tor-exited';
}

/** True for the lines a progress reporter shows: `Bootstrapped N%` and every warning or error. */
export function isProgressLine(line: string): boolean {
  return /\bBootstrapped \d+%|\[(?:warn|err)\]/.test(line);
}
