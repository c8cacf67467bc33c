/** The logger: JSON lines with time, level and bindings for machines; one readable line for people; secrets under known keys redacted in both. */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, REDACTED } from '#shared/log.ts';

function capture(): { stream: Writable; lines: () => string[] } {
  let text = '';
  const stream = new Writable({ write(chunk: Buffer, _e, done) { text += chunk.toString(); done(); } });
  return { stream, lines: () => text.split('\n').filter((l) => l !== '') };
}

describe('createLogger', () => {
  it('writes one JSON object per line with an ISO time, the level and the bindings', () => {
    const out = capture();
    const log = createLogger({ name: 'onionfleet-agent', base: { device: 'pi-1' }, format: 'json', stream: out.stream });
    log.child({ step: 'startService', instance: 'fam-smp-01' }).info('start onionfleet-smp@fam-smp-01');
    const [line] = out.lines().map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(line).toMatchObject({ level: 30, device: 'pi-1', name: 'onionfleet-agent', step: 'startService', instance: 'fam-smp-01', msg: 'start onionfleet-smp@fam-smp-01' });
    expect(line?.time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  });

  it('redacts every secret key, at the top and one level down, in both formats', () => {
    for (const format of ['json', 'pretty'] as const) {
      const out = capture();
      const log = createLogger({ name: 'x', format, stream: out.stream });
      const secrets = Object.fromEntries(REDACTED.map((k, i) => [k, `secret-${format}-${i}`]));
      log.info({ ...secrets, nested: secrets }, 'with secrets');
      const text = out.lines().join('\n');
      for (const value of Object.values(secrets)) expect(text).not.toContain(value);
      expect(text).toContain('[redacted]');
    }
  });

  it('is one readable line on a terminal: time, level, message', () => {
    const out = capture();
    createLogger({ name: 'x', format: 'pretty', stream: out.stream }).warn({ device: 'pi-2' }, 'tunnel: descriptor-not-found');
    expect(out.lines()).toHaveLength(1);
    expect(out.lines()[0]).toMatch(/^\[\d{2}:\d{2}:\d{2}\] WARN: tunnel: descriptor-not-found \{"device":"pi-2"\}$/);
  });
});
