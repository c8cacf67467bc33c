/**
 * What the demo reads from the commands it runs (their `--json` output, parsed at this boundary)
 * and the summary it prints at the end. Pure.
 */
import { z } from 'zod';
import { OperationFailedError } from '#shared/errors.ts';

/** The part of `onionfleet status --json` the demo uses. */
export const StatusJson = z.object({
  devices: z.array(z.object({ device: z.string(), healthy: z.int(), total: z.int(), converged: z.boolean() })),
});
export type StatusJson = z.infer<typeof StatusJson>;

/** The part of `onionfleet bundle export --json` the demo uses. */
export const ExportJson = z.object({
  group: z.string(),
  fingerprint: z.string(),
  sshFingerprint: z.string(),
  smp: z.int(),
  xftp: z.int(),
  files: z.array(z.object({ member: z.string(), file: z.string() })),
});
export type ExportJson = z.infer<typeof ExportJson>;

/** The part of `onionfleet probe --json` the demo uses (onions in it are truncated; no secret). */
export const ProbeJson = z.object({
  verdict: z.enum(['ok', 'degraded', 'unreachable', 'alarm']),
  groups: z.array(z.object({ group: z.string(), verdict: z.string(), summary: z.string() })),
  devices: z.array(z.object({ device: z.string(), problem: z.string() })).default([]),
});
export type ProbeJson = z.infer<typeof ProbeJson>;

/** The part of `onionfleet init --json` the demo uses. */
export const InitJson = z.object({ fingerprint: z.string() });

/**
 * Parses the stdout of `command` (run with `--json`) with `schema`.
 * @throws {OperationFailedError} `demo-unexpected-output` naming the command and the log to read.
 */
export function parseJsonOutput<S extends z.ZodType>(schema: S, stdout: string, command: string, log: string): z.infer<S> {
  let value: unknown;
  try {
    value = JSON.parse(stdout);
  } catch (err) {
    throw new OperationFailedError('demo-unexpected-output', `\`${command}\` printed no JSON (see ${log})`, { cause: err });
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new OperationFailedError('demo-unexpected-output', `\`${command}\` printed unexpected JSON (see ${log})`, { cause: parsed.error });
  return parsed.data;
}

/** True when every device runs its revision with every instance healthy. */
export function allHealthy(status: StatusJson): boolean {
  return status.devices.length > 0 && status.devices.every((d) => d.converged && d.total > 0 && d.healthy === d.total);
}

/** The demo's final summary (`--json`): counts and file paths only, nothing secret. */
export interface DemoSummary {
  readonly devices: number;
  readonly instances: number;
  readonly healthy: number;
  readonly bundles: readonly string[];
  readonly seconds: number;
  /** With `--tor` only: the fleet ran over onions… */
  readonly tor?: true;
  /** …and `onionfleet probe` reached every instance through the controller's tor with this verdict. */
  readonly probe?: ProbeJson['verdict'];
}

/** The summary; `probe` is the verdict of `onionfleet probe` with `--tor`, null without. */
export function demoSummary(status: StatusJson, exports: readonly ExportJson[], elapsedMs: number, probe: ProbeJson['verdict'] | null = null): DemoSummary {
  return {
    devices: status.devices.length,
    instances: status.devices.reduce((n, d) => n + d.total, 0),
    healthy: status.devices.reduce((n, d) => n + d.healthy, 0),
    bundles: exports.flatMap((e) => e.files.map((f) => f.file)),
    seconds: Math.round(elapsedMs / 100) / 10,
    ...(probe === null ? {} : { tor: true as const, probe }),
  };
}
