/**
 * Delivers alert events through the channels of the rules file: a webhook (HTTP POST of the event
 * as JSON; a `.onion` URL through Tor's SOCKS port, resolved by Tor) and a command hook (no shell;
 * the event as JSON on stdin and in ONIONFLEET_ALERT_* variables). A delivery that fails is
 * reported to the caller, which retries it on the next round; the webhook's URL is never logged
 * (it may carry a token), only its host.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import { SocksProxyAgent } from 'socks-proxy-agent';
import type { AlertEvent } from './evaluate.ts';
import type { AlertChannel, CommandChannel, WebhookChannel } from './rules.ts';

/** Where a channel goes, for log lines: the webhook's host (never its path or query), or the command's name. */
export function channelName(channel: AlertChannel): string {
  if (channel.type === 'webhook') {
    const host = new URL(channel.url).hostname;
    return `webhook ${host.endsWith('.onion') ? `${host.slice(0, 8)}….onion` : host}`;
  }
  return `command ${channel.argv[0] ?? ''}`;
}

/** Sends one event through one channel. Rejects with a short reason on failure. */
export function deliver(channel: AlertChannel, event: AlertEvent): Promise<void> {
  return channel.type === 'webhook' ? postWebhook(channel, event) : runCommand(channel, event);
}

function postWebhook(channel: WebhookChannel, event: AlertEvent): Promise<void> {
  const url = new URL(channel.url);
  const body = JSON.stringify(event);
  const agent = url.hostname.endsWith('.onion') ? new SocksProxyAgent(`socks5h://${channel.socks}`) : undefined;
  const request = url.protocol === 'https:' ? https.request : http.request;
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: 'POST', agent, timeout: channel.timeoutSeconds * 1000,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'user-agent': 'onionfleet-alerts' },
    }, (res) => {
      res.resume();
      res.on('end', () => {
        const code = res.statusCode ?? 0;
        if (code >= 200 && code < 300) resolve();
        else reject(new Error(`HTTP ${code}`));
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${channel.timeoutSeconds} s`)));
    req.on('error', (err) => { reject(new Error(err.message)); });
    req.end(body);
  });
}

function runCommand(channel: CommandChannel, event: AlertEvent): Promise<void> {
  const [program, ...args] = channel.argv;
  return new Promise((resolve, reject) => {
    const child = spawn(program ?? '', args, {
      stdio: ['pipe', 'ignore', 'ignore'],
      env: {
        ...process.env,
        ONIONFLEET_ALERT_STATUS: event.status, ONIONFLEET_ALERT_RULE: event.rule, ONIONFLEET_ALERT_SUBJECT: event.subject,
        ONIONFLEET_ALERT_MESSAGE: event.message, ONIONFLEET_ALERT_FLEET: event.fleet,
      },
    });
    const timer = setTimeout(() => { child.kill('SIGKILL'); }, channel.timeoutSeconds * 1000);
    child.on('error', (err) => { clearTimeout(timer); reject(new Error(err.message)); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(signal === null ? `exit ${String(code)}` : `killed (${signal})`));
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(`${JSON.stringify(event)}\n`);
  });
}
