import { randomBytes } from 'node:crypto';
import { parseFlags } from '#shared/cli/flags.ts';
import { toJson } from '#shared/cli/output.ts';
import type { CliContext } from '#shared/cli/run-main.ts';
import { serveLoopback } from '../../metrics/http.ts';
import { MonitorFlags, openMonitor } from '../../metrics/open-monitor.ts';
import { PAGE_CSS, PAGE_HTML, PAGE_JS } from '../../ui/assets.ts';
import { pageData } from '../../ui/page-data.ts';

const Flags = MonitorFlags(0);

/**
 * `onionfleet ui -f fleet.yaml [--port N] [--alerts FILE]`: a live dashboard on 127.0.0.1 only —
 * groups and tiers, instances with device/operator/location/health, devices, rollouts, alerts —
 * at a URL with a random token (printed; every request without it is refused with 403). Everything
 * is served by this process; the page loads nothing from anywhere else. Alerts are evaluated in
 * memory from the state `onionfleet metrics` keeps, and never delivered from here. Until Ctrl-C.
 */
export async function uiCommand(opts: unknown, ctx: CliContext): Promise<void> {
  const flags = parseFlags(Flags, opts);
  const { spec, session, logger, monitor } = await openMonitor(flags, ctx, 'onionfleet ui', false);
  const token = randomBytes(24).toString('base64url');
  const html = PAGE_HTML.replace('href="app.css"', `href="app.css?token=${token}"`).replace('src="app.js"', `src="app.js?token=${token}"`);
  try {
    const server = await serveLoopback(flags.port, async (url) => {
      switch (url.pathname) {
        case '/': return { type: 'text/html; charset=utf-8', body: html };
        case '/app.css': return { type: 'text/css; charset=utf-8', body: PAGE_CSS };
        case '/app.js': return { type: 'text/javascript; charset=utf-8', body: PAGE_JS };
        case '/api/fleet': {
          const { snapshot, rollouts } = await monitor.round();
          return { type: 'application/json; charset=utf-8', body: toJson(pageData(snapshot, Object.values((await monitor.alerts()).active), rollouts)) };
        }
        default: return null;
      }
    }, { token, onError: (err) => { logger.error(`dashboard request failed: ${err instanceof Error ? err.message : String(err)}`); } });
    const url = `http://127.0.0.1:${server.port}/?token=${token}`;
    ctx.output.out(flags.json ? toJson({ url, port: server.port }) : `dashboard of fleet ${spec.fleet}: ${url}\n(only on this machine; the token in the URL is the key to it); Ctrl-C stops it`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', () => { resolve(); });
      process.once('SIGTERM', () => { resolve(); });
    });
    await server.close();
  } finally {
    await session.close();
  }
}
