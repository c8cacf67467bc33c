import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { wholeNumber } from '#shared/cli/flag-types.ts';
import { parseFlags } from '#shared/cli/flags.ts';
import { processOutput, toJson } from '#shared/cli/output.ts';
import type { CliContext } from '#shared/cli/run-main.ts';
import { createLogger, lineStream } from '#shared/log.ts';
import { openSession } from '../../bus/session.ts';
import { loadAlertRules } from '../../alerts/load-rules.ts';
import { DEFAULT_ALERT_RULES } from '../../alerts/rules.ts';
import { serveLoopback } from '../../metrics/http.ts';
import { FleetMonitor } from '../../metrics/monitor.ts';
import { loadFleetSpec } from '../../spec/load.ts';
import { listDevices } from '../../state/devices.ts';
import { stateDir, statePaths } from '../../state/paths.ts';
import { PAGE_CSS, PAGE_HTML, PAGE_JS } from '../../ui/assets.ts';
import { pageData } from '../../ui/page-data.ts';
import { statePassphrase } from '../passphrase.ts';

const Flags = z.object({
  file: z.string(),
  state: z.string().optional(),
  passphraseFile: z.string().optional(),
  port: wholeNumber(0, 65535, 'a TCP port').default(0),
  alerts: z.string().optional(),
  json: z.boolean().default(false),
});

/**
 * `onionfleet ui -f fleet.yaml [--port N] [--alerts FILE]`: a live dashboard on 127.0.0.1 only —
 * groups and tiers, instances with device/operator/location/health, devices, rollouts, alerts —
 * at a URL with a random token (printed; every request without it is refused with 403). Everything
 * is served by this process; the page loads nothing from anywhere else. Alerts are evaluated in
 * memory from the state `onionfleet metrics` keeps, and never delivered from here. Until Ctrl-C.
 */
export async function uiCommand(opts: unknown, ctx: CliContext): Promise<void> {
  const flags = parseFlags(Flags, opts);
  const spec = await loadFleetSpec(flags.file);
  const rules = flags.alerts === undefined ? DEFAULT_ALERT_RULES : await loadAlertRules(flags.alerts);
  const paths = statePaths(stateDir(flags.state));
  const logger = createLogger({ name: 'onionfleet ui', stream: ctx.output === processOutput ? process.stderr : lineStream(ctx.output.err) });
  const session = await openSession(paths, await statePassphrase(paths, flags.passphraseFile));
  const monitor = new FleetMonitor({
    session, stateDir: paths.dir, spec, rules, devices: () => listDevices(paths), deliver: false,
    log: { info: () => undefined, warn: (l) => { logger.warn(l); } },
  });
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
