import { parseFlags } from '#shared/cli/flags.ts';
import { toJson } from '#shared/cli/output.ts';
import type { CliContext } from '#shared/cli/run-main.ts';
import { z } from 'zod';
import { serveLoopback } from '../../metrics/http.ts';
import { MonitorFlags, openMonitor } from '../../metrics/open-monitor.ts';
import { groupHealth } from '../../observe/group-health.ts';

const Flags = MonitorFlags(9469).extend({ once: z.boolean().default(false) });

/**
 * `onionfleet metrics -f fleet.yaml [--alerts FILE] [--port N] [--once [--json]]`: serves the
 * fleet's `/metrics` on 127.0.0.1 (Prometheus text: SimpleX series from the agents' summaries and
 * onionfleet's own, labelled device, operator, group, instance) and evaluates the alert rules every
 * `evaluateEverySeconds`, delivering what fires and clears, until Ctrl-C. `--once`: one round,
 * print the exposition (or with `--json` the groups and alerts) and exit (1 when an alert fires).
 */
export async function metricsCommand(opts: unknown, ctx: CliContext): Promise<void> {
  const flags = parseFlags(Flags, opts);
  const { spec, rules, session, logger, monitor } = await openMonitor(flags, ctx, 'onionfleet metrics', true);
  try {
    if (flags.once) {
      await monitor.round();
      const firing = Object.values((await monitor.alerts()).active).filter((a) => a.firing);
      if (flags.json) {
        const snapshot = await monitor.snapshot();
        ctx.output.out(toJson({ fleet: spec.fleet, groups: snapshot.groups.map((g) => groupHealth(snapshot, g)), alerts: firing.map((a) => ({ rule: a.rule, subject: a.subject, labels: a.labels, message: a.message, since: new Date(a.since).toISOString() })) }));
      } else ctx.output.out((await monitor.exposition()).trimEnd());
      if (firing.length > 0) ctx.setExitCode(1);
      return;
    }
    const server = await serveLoopback(flags.port, async (url) => {
      if (url.pathname === '/metrics') return { type: 'text/plain; version=0.0.4; charset=utf-8', body: await monitor.exposition() };
      if (url.pathname === '/') return { type: 'text/plain; charset=utf-8', body: 'onionfleet metrics: see /metrics\n' };
      return null;
    }, { onError: (err) => { logger.error(`metrics request failed: ${err instanceof Error ? err.message : String(err)}`); } });
    ctx.output.out(`metrics on http://127.0.0.1:${server.port}/metrics; alerts every ${rules.evaluateEverySeconds} s through ${rules.channels.length} channel(s); Ctrl-C stops it`);
    const stopped = new Promise<string>((resolve) => {
      process.once('SIGINT', () => { resolve('SIGINT'); });
      process.once('SIGTERM', () => { resolve('SIGTERM'); });
    });
    try {
      for (;;) {
        await monitor.round().catch((err: unknown) => { logger.warn(`alert round failed: ${err instanceof Error ? err.message : String(err)}`); });
        const why = await Promise.race([stopped, new Promise<null>((r) => setTimeout(() => { r(null); }, rules.evaluateEverySeconds * 1000).unref())]);
        if (why !== null) {
          logger.info(`stopping on ${why}`);
          break;
        }
      }
    } finally {
      await server.close();
    }
  } finally {
    await session.close();
  }
}
