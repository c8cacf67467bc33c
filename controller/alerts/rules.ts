/**
 * The alert rules file (`onionfleet metrics --alerts FILE`, YAML): which rules run, their
 * thresholds, and the channels that deliver them. Every rule is on with its defaults unless the
 * file says `enabled: false`. Pure (the schema; loading is in load-rules.ts).
 *
 * ```yaml
 * version: 1
 * evaluateEverySeconds: 30
 * rules:
 *   groupBelowMinimum: { forSeconds: 0 }
 *   instanceUnhealthy: { forMinutes: 5 }
 *   deviceSilent: { afterSeconds: 180 }
 *   fingerprintChanged: {}
 *   backupTooOld: { maxAgeHours: 48 }
 *   rolloutHalted: {}
 * channels:
 *   - { type: webhook, url: "http://abcd…xyz.onion/hook", socks: "127.0.0.1:9050" }
 *   - { type: command, argv: ["/usr/local/bin/notify-admin"] }
 * ```
 */
import { z } from 'zod';

const enabled = { enabled: z.boolean().default(true) };
const seconds = (max: number) => z.int().min(0).max(max);

export const AlertRuleSettings = z.strictObject({
  /** A group's healthy instances no longer meet its tier's minimum (observe/group-health.ts), for this long. */
  groupBelowMinimum: z.strictObject({ ...enabled, forSeconds: seconds(86_400).default(0) }).default({ enabled: true, forSeconds: 0 }),
  /** An instance of a reporting device is unhealthy for this long. */
  instanceUnhealthy: z.strictObject({ ...enabled, forMinutes: z.number().min(0).max(10_080).default(5) }).default({ enabled: true, forMinutes: 5 }),
  /** No status from a device for this long (its instances then count as unhealthy everywhere). */
  deviceSilent: z.strictObject({ ...enabled, afterSeconds: z.int().min(5).max(604_800).default(180) }).default({ enabled: true, afterSeconds: 180 }),
  /** A device reports another fingerprint for an instance than the one first seen (pinned). */
  fingerprintChanged: z.strictObject({ ...enabled }).default({ enabled: true }),
  /** A device's newest sealed backup is older than this (evaluated once agents report backups). */
  backupTooOld: z.strictObject({ ...enabled, maxAgeHours: z.number().min(1).max(8760).default(48) }).default({ enabled: true, maxAgeHours: 48 }),
  /** A rollout stopped at a failed health gate (evaluated when the controller records rollouts). */
  rolloutHalted: z.strictObject({ ...enabled }).default({ enabled: true }),
});
export type AlertRuleSettings = z.infer<typeof AlertRuleSettings>;

const SocksAddress = z.string().regex(/^\d{1,3}(\.\d{1,3}){3}:\d{1,5}$/, { error: 'expected an IP:PORT such as 127.0.0.1:9050' });

export const WebhookChannel = z.strictObject({
  type: z.literal('webhook'),
  /** http(s) URL; a `.onion` host is reached through `socks` (Tor), any other host directly. */
  url: z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' }),
  socks: SocksAddress.default('127.0.0.1:9050'),
  timeoutSeconds: z.int().min(1).max(300).default(60),
});
export type WebhookChannel = z.infer<typeof WebhookChannel>;

export const CommandChannel = z.strictObject({
  type: z.literal('command'),
  /** The program and its arguments (no shell); the alert arrives as JSON on stdin and in ONIONFLEET_ALERT_* variables. */
  argv: z.array(z.string().min(1)).min(1),
  timeoutSeconds: z.int().min(1).max(300).default(30),
});
export type CommandChannel = z.infer<typeof CommandChannel>;

export const AlertChannel = z.discriminatedUnion('type', [WebhookChannel, CommandChannel]);
export type AlertChannel = z.infer<typeof AlertChannel>;

export const AlertRules = z.strictObject({
  version: z.literal(1),
  evaluateEverySeconds: z.int().min(1).max(3600).default(30),
  rules: AlertRuleSettings.default(AlertRuleSettings.parse({})),
  channels: z.array(AlertChannel).default([]),
});
export type AlertRules = z.infer<typeof AlertRules>;

/** The rules when no file is given: every rule on with its defaults, no channel (the alerts still show in /metrics and the dashboard). */
export const DEFAULT_ALERT_RULES: AlertRules = AlertRules.parse({ version: 1 });
