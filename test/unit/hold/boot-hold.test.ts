/**
 * The boot hold (agent/hold/): what a returning device holds back from its last applied desired
 * state, tor's fragment without the held onions, when the fallback releases by uptime, the
 * fleet.yaml key and its tier defaults, and the files the hold leaves below a root (docs/continuity.md,
 * "A device that comes back").
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { watchHoldFallback } from '../../../agent/hold/fallback.ts';
import { heldNow, holdAtBoot, releaseHeld, HELD_SUMMARY } from '../../../agent/hold/markers.ts';
import { dueForRelease, fragmentWithout, HELD_NOTE, instancesToHold, secondsUntilNextRelease } from '../../../agent/hold/plan.ts';
import { DESIRED_COPY } from '../../../agent/reconcile/loop.ts';
import { PATHS } from '../../../agent/render/paths.ts';
import { renderTorrcFragment } from '../../../agent/render/torrc.ts';
import { CONTINUITY_DEFAULTS, resolveContinuity } from '#shared/schema/continuity.ts';
import type { DesiredInstance, DesiredState } from '#shared/schema/desired-state.ts';
import { FleetSpec } from '#shared/schema/fleet-spec.ts';
import { createLogger } from '#shared/log.ts';
import { desiredState } from '../../builders/desired.ts';

const RECIPIENT = 'age1ty7gcq5tqu77wr72c6duthxusducq7enaj2kc8h92etqyf44cawqpgh5wf';

/** Two groups on one device: `copies` (high tier, identity copies) and `single` (extreme, none), plus one instance without continuity. */
function mixed(): DesiredState {
  const base = desiredState({ groups: [{ id: 'copies', tier: 'high', smp: 2, xftp: 1 }, { id: 'single', tier: 'extreme', smp: 1, xftp: 0 }, { id: 'old', tier: 'standard', smp: 1, xftp: 0 }] });
  const instances = base.instances.map((i): DesiredInstance => {
    if (i.group === 'old') return i; // a desired state made before continuity: no continuity at all
    const c = resolveContinuity(i.tier, undefined, RECIPIENT);
    return { ...i, continuity: i.id === 'copies-smp-02' ? { ...c, holdAtBootSeconds: 600 } : c };
  });
  return { ...base, instances };
}

describe('what a device holds back at boot', () => {
  it('holds exactly the instances whose group allows identity copies, with their limits (the tier default when the document has none)', () => {
    const desired = mixed();
    const withoutLimit = { ...desired, instances: desired.instances.map((i) => (i.id === 'copies-xftp-01' && i.continuity ? { ...i, continuity: { identityCopies: true, backupSeconds: 900, recipients: [RECIPIENT] } } : i)) };
    expect(instancesToHold(withoutLimit)).toEqual([
      { id: 'copies-smp-01', kind: 'smp', holdAtBootSeconds: 7200 },
      { id: 'copies-smp-02', kind: 'smp', holdAtBootSeconds: 600 },
      { id: 'copies-xftp-01', kind: 'xftp', holdAtBootSeconds: CONTINUITY_DEFAULTS.high.holdAtBootSeconds },
    ]);
    // Nothing of a group without copies is served elsewhere: nothing to hold.
    expect(instancesToHold(desiredState({ tier: 'extreme' }))).toEqual([]);
  });

  it('leaves only the held onion services out of tor\'s fragment; the others and SSH stay byte for byte', () => {
    const desired = mixed();
    const fragment = renderTorrcFragment(desired);
    const without = fragmentWithout(fragment, ['copies-smp-01', 'copies-xftp-01']);
    expect(without.startsWith(`${HELD_NOTE}\n`)).toBe(true);
    expect(without).not.toContain(PATHS.onionDir('copies-smp-01'));
    expect(without).not.toContain(PATHS.onionDir('copies-xftp-01'));
    expect(without).not.toContain('# copies-smp-01 (');
    // What remains is what the fragment of a document without them would hold, onion for onion.
    const kept = { ...desired, instances: desired.instances.filter((i) => i.id !== 'copies-smp-01' && i.id !== 'copies-xftp-01') };
    const blocks = (text: string) => text.split('\n\n').filter((b) => b.includes('HiddenServiceDir')).map((b) => b.trim());
    expect(blocks(without)).toEqual(blocks(renderTorrcFragment(kept)).map((b) => (b.includes(PATHS.onionDir('ssh')) ? blocks(fragment).find((f) => f.includes(PATHS.onionDir('ssh'))) : b)));
    expect(without).toContain('VanguardsLiteEnabled 1');
    expect(without).not.toMatch(/\n\n\n/);
    // Idempotent; and a fragment without them is left as it is.
    expect(fragmentWithout(without, ['copies-smp-01', 'copies-xftp-01'])).toBe(without);
    expect(fragmentWithout(fragment, ['copies-smp-09'])).toBe(fragment);
    // An id that is another's suffix is not taken for it.
    expect(fragmentWithout(fragment, ['s-smp-01'])).toBe(fragment);
  });

  it('leaves the held onions out below a sandbox root too (HiddenServiceDir under the root)', () => {
    const desired = mixed();
    const fragment = renderTorrcFragment(desired, { contentRoot: '/tmp/dev-root' });
    const without = fragmentWithout(fragment, ['copies-smp-02']);
    expect(without).not.toContain(`/tmp/dev-root${PATHS.onionDir('copies-smp-02')}`);
    expect(without).toContain(`/tmp/dev-root${PATHS.onionDir('copies-smp-01')}`);
  });

  it('releases by uptime only what ran out, never what is held forever', () => {
    const held = [
      { id: 'a-smp-01', kind: 'smp' as const, holdAtBootSeconds: 1800 },
      { id: 'b-smp-01', kind: 'smp' as const, holdAtBootSeconds: 600 },
      { id: 'c-smp-01', kind: 'smp' as const, holdAtBootSeconds: null },
    ];
    expect(dueForRelease(held, 599)).toEqual([]);
    expect(dueForRelease(held, 600)).toEqual(['b-smp-01']);
    expect(dueForRelease(held, 86_400 * 30)).toEqual(['a-smp-01', 'b-smp-01']);
    expect(secondsUntilNextRelease(held, 100)).toBe(500);
    expect(secondsUntilNextRelease(held, 5000)).toBe(0);
    expect(secondsUntilNextRelease(held.filter((h) => h.holdAtBootSeconds === null), 5000)).toBeNull();
    expect(secondsUntilNextRelease([], 5000)).toBeNull();
  });
});

describe('fleet.yaml continuity.holdAtBoot', () => {
  const spec = (tier: string, continuity: unknown) => ({
    version: 1, fleet: 'f', groups: [{ id: 'g', tier, smp: 1, xftp: 0, continuity }],
  });
  const problems = (tier: string, continuity: unknown) => {
    const r = FleetSpec.safeParse(spec(tier, continuity));
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };

  it('takes a duration of 1m to 7d or forever, and the tier default when absent', () => {
    expect(problems('standard', { holdAtBoot: '45m' })).toEqual([]);
    expect(problems('high', { holdAtBoot: 'forever' })).toEqual([]);
    expect(resolveContinuity('standard', { holdAtBoot: '45m', offlineRecipients: [] }, RECIPIENT).holdAtBootSeconds).toBe(2700);
    expect(resolveContinuity('high', { holdAtBoot: 'forever', offlineRecipients: [] }, RECIPIENT).holdAtBootSeconds).toBeNull();
    expect(resolveContinuity('standard', undefined, RECIPIENT).holdAtBootSeconds).toBe(1800);
    expect(resolveContinuity('elevated', undefined, RECIPIENT).holdAtBootSeconds).toBe(1800);
    expect(resolveContinuity('high', undefined, RECIPIENT).holdAtBootSeconds).toBe(7200);
    // An extreme group that allows copies prefers silence to a possible double.
    expect(resolveContinuity('extreme', { identityCopies: true, offlineRecipients: [] }, RECIPIENT).holdAtBootSeconds).toBeNull();
  });

  it('names the field of each problem', () => {
    expect(problems('high', { holdAtBoot: '30s' })).toEqual(['groups.0.continuity.holdAtBoot: must be at least 1m']);
    expect(problems('high', { holdAtBoot: '8d' })).toEqual(['groups.0.continuity.holdAtBoot: must be at most 7d']);
    expect(problems('high', { holdAtBoot: 'soon' })[0]).toMatch(/^groups\.0\.continuity\.holdAtBoot: /);
    expect(problems('high', { identityCopies: false, holdAtBoot: '1h' })).toEqual(['groups.0.continuity.holdAtBoot: has no use without identity copies (nothing of the group is served elsewhere, so nothing is held at boot)']);
    expect(problems('extreme', { holdAtBoot: '1h' })[0]).toMatch(/^groups\.0\.continuity\.holdAtBoot: has no use/);
  });
});

describe('the hold below a root', () => {
  const rootWith = (desired: DesiredState | null): string => {
    const root = mkdtempSync(join(tmpdir(), 'onionfleet-hold-'));
    if (desired !== null) {
      mkdirSync(join(root, 'var/lib/onionfleet'), { recursive: true });
      writeFileSync(join(root, DESIRED_COPY), JSON.stringify(desired));
      mkdirSync(join(root, 'etc/tor/torrc.d'), { recursive: true });
      writeFileSync(join(root, PATHS.torrcFragment), renderTorrcFragment(desired, { contentRoot: root }), { mode: 0o644 });
    }
    return root;
  };

  it('holds nothing on a fresh install (no desired state applied yet), and says so once per boot', async () => {
    const root = rootWith(null);
    expect(await holdAtBoot(root)).toEqual({ held: [], already: false, fragmentChanged: false });
    expect(await holdAtBoot(root)).toEqual({ held: [], already: true, fragmentChanged: false });
    expect(existsSync(join(root, PATHS.torrcFragment))).toBe(false);
  });

  it('marks each held instance and rewrites the fragment once; a second run changes nothing; releasing removes the marks', async () => {
    const desired = mixed();
    const root = rootWith(desired);
    const first = await holdAtBoot(root);
    expect(first.held.map((h) => h.id)).toEqual(['copies-smp-01', 'copies-smp-02', 'copies-xftp-01']);
    expect(first.fragmentChanged).toBe(true);
    for (const h of first.held) expect(existsSync(join(root, PATHS.heldDir, h.id))).toBe(true);
    expect(existsSync(join(root, PATHS.heldDir, 'single-smp-01'))).toBe(false);
    expect(statSync(join(root, PATHS.heldDir, HELD_SUMMARY)).mode & 0o777).toBe(0o644);
    const fragment = readFileSync(join(root, PATHS.torrcFragment), 'utf8');
    expect(fragment).not.toContain(PATHS.onionDir('copies-smp-01'));
    expect(fragment).toContain(PATHS.onionDir('single-smp-01'));
    expect(statSync(join(root, PATHS.torrcFragment)).mode & 0o777).toBe(0o644);

    const again = await holdAtBoot(root);
    expect(again).toMatchObject({ already: true, fragmentChanged: false });
    expect(readFileSync(join(root, PATHS.torrcFragment), 'utf8')).toBe(fragment);

    expect(await releaseHeld(root, ['copies-smp-02'], 'uptime')).toEqual(['copies-smp-02']);
    expect((await heldNow(root)).map((h) => h.id)).toEqual(['copies-smp-01', 'copies-xftp-01']);
    expect(await releaseHeld(root, 'all', 'controller')).toEqual(['copies-smp-01', 'copies-xftp-01']);
    expect(await heldNow(root)).toEqual([]);
    expect(await releaseHeld(root, 'all', 'controller')).toEqual([]);
    // Released in this boot: a second run of the hold does not hold them again.
    expect(await holdAtBoot(root)).toMatchObject({ held: [], already: true });
    expect(JSON.parse(readFileSync(join(root, PATHS.heldDir, HELD_SUMMARY), 'utf8'))).toMatchObject({
      released: [{ id: 'copies-smp-02', by: 'uptime' }, { id: 'copies-smp-01', by: 'controller' }, { id: 'copies-xftp-01', by: 'controller' }],
    });
  });
});

describe('the agent\'s fallback watch', () => {
  it('asks for the release once an instance\'s holdAtBoot of uptime has run out (this machine is up for more than a minute)', async () => {
    const root = mkdtempSync(join(tmpdir(), 'onionfleet-hold-watch-'));
    const desired = desiredState();
    const instances = desired.instances.map((i, k) => ({ ...i, continuity: { identityCopies: true, backupSeconds: 3600, recipients: [RECIPIENT], holdAtBootSeconds: k === 0 ? 60 : null } }));
    mkdirSync(join(root, 'var/lib/onionfleet'), { recursive: true });
    writeFileSync(join(root, DESIRED_COPY), JSON.stringify({ ...desired, instances }));
    expect((await holdAtBoot(root)).held).toHaveLength(instances.length);
    const controller = new AbortController();
    const asked = new Promise<void>((resolve) => {
      watchHoldFallback({ root, log: createLogger({ name: 'test', level: 'silent' }), signal: controller.signal, release: () => {
        resolve();
        return Promise.resolve(false);
      } });
    });
    try {
      await asked;
    } finally {
      controller.abort();
    }
    // It only asks: the applier releases (here nothing did).
    expect(await heldNow(root)).toHaveLength(instances.length);
  }, 30_000);
});
