/**
 * loadFleetSpec (controller/spec/load.ts) and parseFleetSpec (parse.ts) on the rough edges of issue 12:
 * endless input, nesting that would overflow the YAML library's stack, and a second document.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidInputError, type Problem } from '#shared/errors.ts';
import { loadFleetSpec } from '../../../controller/spec/load.ts';
import { parseFleetSpec } from '../../../controller/spec/parse.ts';

const EXAMPLES = new URL('../../../deploy/examples/', import.meta.url).pathname;
const tmp = () => mkdtempSync(join(tmpdir(), 'onionfleet-spec-'));

const problems = async (path: string): Promise<Problem[]> => {
  const err = await loadFleetSpec(path).then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(InvalidInputError);
  return [...(err as InvalidInputError).problems];
};
const parsed = (text: string) => {
  const result = parseFleetSpec(new TextEncoder().encode(text), 'fleet.yaml');
  return result.ok ? [] : result.problems;
};

describe('loadFleetSpec: input without end', () => {
  it('refuses /dev/zero at 8 MiB', async () => {
    expect(await problems('/dev/zero')).toEqual([{ source: '/dev/zero', message: 'file is larger than 8 MiB' }]);
  });

  it('reads a FIFO fed forever only up to the cap: the writer is cut off after about 8 MiB', async () => {
    const path = join(tmp(), 'fleet.yaml');
    execFileSync('mkfifo', [path]);
    const writer = (async () => {
      const handle = await open(path, 'w');
      const chunk = Buffer.alloc(64 * 1024, 0x23); // '#': a comment without end
      let written = 0;
      try {
        while (written < 32 * 1024 * 1024) written += (await handle.write(chunk)).bytesWritten;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EPIPE') throw err;
      } finally {
        await handle.close();
      }
      return written;
    })();
    expect(await problems(path)).toEqual([{ source: path, message: 'file is larger than 8 MiB' }]);
    expect(await writer).toBeLessThan(9 * 1024 * 1024);
  });

  it('reads a fleet from a FIFO', async () => {
    const path = join(tmp(), 'fleet.yaml');
    execFileSync('mkfifo', [path]);
    const text = readFileSync(join(EXAMPLES, 'family.yaml'));
    const writer = open(path, 'w').then(async (h) => {
      await h.write(text);
      await h.close();
    });
    expect((await loadFleetSpec(path)).fleet).toBe('family-garcia');
    await writer;
  });

  it('still names a missing file and a directory', async () => {
    expect(await problems('/nonexistent/fleet.yaml')).toEqual([{ source: '/nonexistent/fleet.yaml', message: 'no such file' }]);
    const dir = tmp();
    expect(await problems(dir)).toEqual([{ source: dir, message: 'is a directory' }]);
  });
});

describe('parseFleetSpec: nesting', () => {
  it('refuses 5,000 nested [ with one line, before the YAML library recurses', () => {
    expect(parsed('['.repeat(5000))).toEqual([{ source: 'fleet.yaml', message: 'nesting deeper than 64 levels', line: 1, col: 65 }]);
  });

  it.each([
    ['block sequences', `${'- '.repeat(3000)}x\n`, 1],
    ['mappings by indentation', Array.from({ length: 2000 }, (_, i) => `${' '.repeat(i)}k:`).join('\n'), 65],
    ['flow mappings', `fleet: ${'{a: '.repeat(3000)}`, 1],
  ])('refuses deep %s with one line', (_name, text, line) => {
    const out = parsed(text);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ message: 'nesting deeper than 64 levels', line });
  });

  it('is not fooled by brackets in strings, comments and block scalars', () => {
    const family = readFileSync(join(EXAMPLES, 'family.yaml'), 'utf8');
    const noisy = family
      .replace('fleet: family-garcia', `fleet: family-garcia # ${'['.repeat(100)}\nnote: "${'['.repeat(100)}"\nmore: |\n  ${'{'.repeat(100)}\n  - - - -`)
      .replace(/\n$/, `\n# ${'- '.repeat(100)}\n`);
    // The extra keys are unknown to the schema: that, not nesting, is what is reported.
    expect(parsed(noisy).map((p) => p.message)).toEqual([expect.stringMatching(/^unknown keys "note", "more"/)]);
  });

  it('accepts every example', () => {
    for (const name of ['family.yaml', 'ngo.yaml', 'newsroom.yaml', 'network.yaml']) {
      expect(parsed(readFileSync(join(EXAMPLES, name), 'utf8'))).toEqual([]);
    }
  });
});

describe('parseFleetSpec: one document', () => {
  it('says in its own words that a fleet.yaml holds one document, at the second one', () => {
    const text = 'version: 1\nfleet: a\n---\nversion: 1\nfleet: b\n';
    expect(parsed(text)).toEqual([
      { source: 'fleet.yaml', line: 3, col: 1, message: 'a fleet.yaml holds one YAML document, and a second one starts here; remove it or move it to a file of its own' },
    ]);
  });

  it('also after an end marker, and not for a leading --- or a trailing ...', () => {
    expect(parsed('version: 1\n...\nfleet: b\n')).toMatchObject([{ line: 3, message: expect.stringMatching(/^a fleet\.yaml holds one YAML document/) as unknown }]);
    const family = readFileSync(join(EXAMPLES, 'family.yaml'), 'utf8');
    expect(parsed(`---\n${family}...\n`)).toEqual([]);
  });

  it('never repeats the YAML library\'s advice', () => {
    expect(JSON.stringify(parsed('a: 1\n---\nb: 2\n---\nc: 3\n'))).not.toMatch(/parseAllDocuments/);
  });
});
