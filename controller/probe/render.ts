/**
 * The human form of a probe report: a table per group, then its one-line verdict. Onions appear
 * only truncated, fingerprints only shortened (the JSON form has them in full). Pure.
 */
import { table } from '#shared/cli/output.ts';
import type { InstanceResult, ProbeReport } from './model.ts';

const VERDICT_WORD = { ok: 'ok', degraded: 'DEGRADED', unreachable: 'UNREACHABLE', alarm: 'ALARM' } as const;

/** The report as text; `via` names the proxy (`127.0.0.1:9050 (system tor)`). */
export function renderReport(report: ProbeReport, via: string): string {
  const lines: string[] = [];
  const total = report.groups.reduce((n, g) => n + g.total, 0);
  lines.push(`probed ${total} instance${total === 1 ? '' : 's'} through ${via}`);
  for (const g of report.groups) {
    lines.push('', `group ${g.group}`);
    lines.push(table([['instance', 'device', 'onion', 'reachable', 'identity', 'hello', 'latency ms'], ...g.instances.map(row)]));
    lines.push(`  → ${g.summary}`);
  }
  if (report.devices.length > 0) {
    lines.push('', 'devices not probed:');
    for (const d of report.devices) lines.push(`  ${d.device}: ${d.problem}`);
  }
  if (report.pinned.length > 0) lines.push('', `pinned on first sight: ${report.pinned.join(', ')}`);
  lines.push('', `verdict: ${VERDICT_WORD[report.verdict]}`);
  if (report.verdict === 'alarm') {
    lines.push('  an onion did not prove the identity pinned for it: treat the device or its onion key as compromised until explained.',
      '  If the instance was re-created on purpose, remove its entry from pins.json in the state directory and probe again.');
  }
  return lines.join('\n');
}

function row(i: InstanceResult): string[] {
  const reachable = i.reachable === null ? (i.verdict === 'not-reported' ? '-' : 'no') : i.reachable ? 'yes' : `no (${i.problem ?? '?'})`;
  const identity = i.alarms.length > 0 ? `ALARM ${i.alarms.map((a) => a.reason).join(',')}` : i.identityOk === null ? '-' : i.identityOk ? 'ok' : 'FAIL';
  const hello = i.helloOk === null || i.reachable !== true ? '-' : i.helloOk ? 'ok' : `FAIL (${i.problem ?? '?'})`;
  const notReported = i.verdict === 'not-reported' ? ` (${i.problem ?? 'not reported'})` : '';
  return [i.instance, i.device, (i.onion ?? '-') + notReported, reachable, identity, hello, i.latencyMs === null ? '-' : String(i.latencyMs)];
}
