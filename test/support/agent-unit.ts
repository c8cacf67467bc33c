/**
 * How deploy/onionfleet-agent.service runs the agent: its Environment= lines, read the way systemd
 * reads them (`"NAME=a b"` quoted, pairs separated by spaces). ONIONFLEET_NODE_FLAGS holds node's own
 * flags (the installed wrapper passes them to node); the rest is the process environment.
 * Used by the install test and `npm run bench -- agent-metrics`.
 */
import { readFileSync } from 'node:fs';

export const AGENT_UNIT = new URL('../../deploy/onionfleet-agent.service', import.meta.url).pathname;

export function agentUnitSettings(unit = readFileSync(AGENT_UNIT, 'utf8')): { flags: string[]; env: Record<string, string> } {
  const env: Record<string, string> = {};
  for (const line of unit.split('\n').filter((l) => l.startsWith('Environment='))) {
    for (const m of line.slice('Environment='.length).matchAll(/"([^"]*)"|(\S+)/g)) {
      const pair = m[1] ?? m[2] ?? '';
      const eq = pair.indexOf('=');
      if (eq > 0) env[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
  }
  const { ONIONFLEET_NODE_FLAGS: flags = '', ...rest } = env;
  return { flags: flags.split(' ').filter((f) => f !== ''), env: rest };
}
