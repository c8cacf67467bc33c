/**
 * The nesting pre-scan (controller/spec/nesting.ts): exact on what the yaml library writes, blind to
 * brackets and indentation inside strings, comments and block scalars, and quick on hostile input.
 */
import { fc, test } from '@fast-check/vitest';
import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { findDeepNesting, nestingDepth } from '../../../controller/spec/nesting.ts';
import { runs } from '../../support/runs.ts';

/** Collections nest; a scalar adds nothing (an empty collection still counts one). */
function depthOf(v: unknown): number {
  if (Array.isArray(v)) return 1 + Math.max(0, ...v.map(depthOf));
  if (v !== null && typeof v === 'object') return 1 + Math.max(0, ...Object.values(v).map(depthOf));
  return 0;
}

/** Strings full of what a careless scan would count: brackets, quotes, comment marks, colons, dashes, line breaks. */
const nasty = fc.string({
  unit: fc.constantFrom('[', ']', '{', '}', '"', "'", '#', ' #', ': ', ':', '- ', '-', '|', '>', '\n', '  ', ' ', '\\', ',', '&a', '*a', '!t', '?', 'x', 'y', 'word'),
  maxLength: 24,
});
const key = fc.oneof(fc.constantFrom('id', 'smp', 'tier', 'a b', '- x'), nasty);
const valueArb = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    nasty,
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(key, tie('value'), { maxKeys: 4 }),
  ),
})).value;

const styles = fc.record({
  flowLevel: fc.constantFrom(-1, 0, 1, 2, 3),
  indent: fc.constantFrom(1, 2, 4),
  indentSeq: fc.boolean(),
  lineWidth: fc.constantFrom(0, 12, 40, 80),
  minContentWidth: fc.constantFrom(0, 20),
});

describe('nestingDepth', () => {
  test.prop([valueArb, styles], { numRuns: runs(2000) })('is the depth of the value on whatever the yaml library writes', (value, style) => {
    const text = stringify(value, style);
    // The library's reading of its own text is the truth (it may write an odd string back differently,
    // and cannot read a few of its own top-level block scalars: those are skipped).
    let read: unknown;
    try {
      read = parse(text);
    } catch {
      fc.pre(false);
    }
    // Folding an odd string at a narrow width, the library can write a double-quoted scalar whose
    // continuation line falls back to its parent's indentation (not YAML; the library reads it back
    // leniently, as another string): exactness is claimed on text that reads back as the value.
    fc.pre(isDeepStrictEqual(read, value));
    expect(nestingDepth(text)).toBe(depthOf(read));
  });

  test.prop([valueArb, styles], { numRuns: runs(2000) })('never finds less depth than the library reads, even on text it writes badly', (value, style) => {
    // The scan guards the library's stack: counting one level too many costs a clear error on
    // absurd input, counting too few would let a deep document through.
    const text = stringify(value, style);
    let read: unknown;
    try {
      read = parse(text);
    } catch {
      fc.pre(false);
    }
    expect(nestingDepth(text)).toBeGreaterThanOrEqual(depthOf(read));
  });

  it('overcounts, never undercounts, a quoted scalar the library folds back to its parent\'s indentation', () => {
    // Found by the property above (seed 1862771912): the library reads depth 3 from its own text.
    const value = { id: { '[': { id: '- [[[[: [\\' }, '': '' } };
    const style = { flowLevel: -1, indent: 4, indentSeq: false, lineWidth: 12, minContentWidth: 0 };
    const text = stringify(value, style);
    expect(depthOf(parse(text))).toBe(3);
    expect(nestingDepth(text)).toBeGreaterThanOrEqual(3);
  });

  it.each([
    ['a mapping', 'version: 1\nfleet: x\n', 1],
    ['groups with members', 'groups:\n  - id: a\n    members: [ana, ben]\n', 4],
    ['a sequence at its key\'s indentation', 'groups:\n- id: a\n  members:\n  - ana\nx: 1\n', 4],
    ['compact sequences', '- - - a\n    - b\n- c\n', 3],
    ['flow in flow over lines', 'a: [\n  {b: [c]},\n  d\n]\n', 4],
    ['brackets in a plain scalar', 'note: see [1] and {2} [[[[\n', 1],
    ['brackets on a continuation line', 'note: a long\n  [[[[ text\nb: 1\n', 1],
    ['brackets in quotes over lines', 'a: "[[[[\n  \\"[[[["\nb: \'[[ it\'\'s [[\n  [[\'\n', 1],
    ['an apostrophe in a plain scalar', "a: it's [x\nb: [c]\n", 2],
    ['brackets in comments', '# [[[[\na: 1 # [[[[ {{{{\nb: # - - - -\n  c: 1\n', 2],
    ['a block scalar', 'a: |\n  [[[[\n  - - - -\n    k: v\n\n  {{{{\nb: 1\n', 1],
    ['a folded scalar in a sequence', '- key: >-\n    [[[[\n   - - -\n- 2\n', 2],
    ['a block scalar at the top, then a document', '--- |\n[[[[\n- - -\n---\n- [a]\n', 2],
    ['anchors, tags and aliases', 'a: &x !!seq [1, *x]\nb: *x\n', 2],
    ['a flow key', '[a]: b\n', 2],
    ['two documents', '- - a\n---\nb: 1\n', 2],
    ['CRLF line ends', 'a:\r\n  b:\r\n    - c\r\n', 3],
  ])('%s', (_name, text, depth) => {
    expect(nestingDepth(text)).toBe(depth);
  });
});

describe('findDeepNesting', () => {
  it('finds the 65th of 5,000 [ on line 1, column 65', () => {
    expect(findDeepNesting('['.repeat(5000), 64)).toEqual({ line: 1, col: 65, depth: 65 });
  });

  it('finds deep block sequences, mappings by indentation, and flow mappings', () => {
    expect(findDeepNesting(`${'- '.repeat(3000)}x\n`, 64)).toMatchObject({ line: 1, col: 129 });
    const indented = Array.from({ length: 200 }, (_, i) => `${' '.repeat(i)}k:`).join('\n');
    expect(findDeepNesting(indented, 64)).toMatchObject({ line: 65, col: 65 });
    expect(findDeepNesting(`a: ${'{b: '.repeat(100)}`, 64)).toMatchObject({ line: 1, col: 4 + 63 * 4 });
  });

  it('passes nesting at the limit', () => {
    expect(findDeepNesting(`${'['.repeat(64)}${']'.repeat(64)}`, 64)).toBeNull();
  });

  it('scans 8 MiB of brackets in well under a second', () => {
    const text = `a: "${'['.repeat(8 * 1024 * 1024)}"\n`;
    const t0 = performance.now();
    expect(findDeepNesting(text, 64)).toBeNull();
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});
