import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { withStateLock } from '../../controller/state/lock.ts';
import { until } from '../support/processes.ts';

describe('withStateLock', () => {
  it('runs one holder at a time and removes the lock afterwards', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'onionfleet-lock-'));
    const events: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => { release = resolve; });
    const first = withStateLock({ dir }, 'access', async () => { events.push('first in'); await gate; events.push('first out'); });
    // The second comes once the first holds the lock (two opens racing may finish in either order).
    await until('the first holder', () => (events.includes('first in') ? true : null), 10_000);
    const second = withStateLock({ dir }, 'access', () => { events.push('second in'); return Promise.resolve(); });
    await until('the second to be waiting on the lock', () => (existsSync(join(dir, 'access.lock')) ? true : null), 10_000);
    release();
    await Promise.all([first, second]);
    expect(events).toEqual(['first in', 'first out', 'second in']);
    expect(existsSync(join(dir, 'access.lock'))).toBe(false);
  });

  it('takes over a lock whose process is gone', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'onionfleet-lock-'));
    const dead = Number(spawnSync('sh', ['-c', 'echo $$'], { encoding: 'utf8' }).stdout.trim());
    writeFileSync(join(dir, 'access.lock'), String(dead));
    expect(await withStateLock({ dir }, 'access', () => Promise.resolve('ran'), 2_000)).toBe('ran');
  });

  it('gives up on a live holder after the timeout, naming it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'onionfleet-lock-'));
    writeFileSync(join(dir, 'access.lock'), String(process.pid));
    await expect(withStateLock({ dir }, 'access', () => Promise.resolve(), 100)).rejects.toThrow(`held by pid ${process.pid}`);
  });
});
