/**
 * How deeply a YAML text nests collections, found by a cheap linear scan before the YAML library
 * sees it: the library recurses once per level and runs out of stack near a thousand (5,000 `[`
 * gave "Maximum call stack size exceeded"). Pure: no I/O.
 *
 * Not a parser, but it knows what can hide brackets and indentation: quoted scalars (over several
 * lines, with their escapes), plain scalars (`a [b`, `it's`, and their continuation lines), block
 * scalars (`|`, `>`: every line indented past their parent is text), comments, and document markers.
 * Depth is the block collections open (tracked by the column of their `-`, `?` or key) plus the flow
 * collections open (`[`, `{`); a scalar adds nothing. On any text the `yaml` library writes, the depth
 * found is the depth of the value (test/unit/spec/nesting.test.ts checks it against random values).
 */

/** Where the scan saw depth grow past its limit: 1-based line and column of the opening. */
export interface DeepAt {
  readonly line: number;
  readonly col: number;
  readonly depth: number;
}

/** The first opening that nests deeper than `limit` levels, or null. */
export function findDeepNesting(text: string, limit: number): DeepAt | null {
  let found: DeepAt | null = null;
  scanNesting(text, (at) => {
    if (at.depth <= limit) return false;
    found = at;
    return true;
  });
  return found;
}

/** The deepest nesting of `text` (0 for a scalar or an empty text). */
export function nestingDepth(text: string): number {
  let deepest = 0;
  scanNesting(text, (at) => {
    deepest = Math.max(deepest, at.depth);
    return false;
  });
  return deepest;
}

const isBlank = (c: string | undefined) => c === ' ' || c === '\t' || c === '\r';
const endsToken = (c: string | undefined) => c === undefined || c === '\n' || isBlank(c);
const isFlowIndicator = (c: string | undefined) => c === ',' || c === '[' || c === ']' || c === '{' || c === '}';

interface BlockLevel {
  readonly col: number;
  readonly seq: boolean;
}

/** Calls `onOpen` at every collection opening with the depth it makes; stops when `onOpen` returns true. */
function scanNesting(text: string, onOpen: (at: DeepAt) => boolean): void {
  const n = text.length;
  let i = 0;
  let line = 1;
  let lineStart = 0;
  /** Open flow collections, and the column of the outermost (the key's column for `[a]: b`). */
  let flow = 0;
  let flowCol = 0;
  const block: BlockLevel[] = [];
  /** A node may start here (after `- `, `? `, `: `, `[`, `{`, `,`, a property, or at a line's start). */
  let atNode = true;
  /** Column of the last scalar, alias or flow collection: the key's column when `: ` follows. */
  let tokenCol = 0;
  /** The last token was a flow collection this deep, 0 if a scalar (a key such as `[a]: b` nests inside its mapping). */
  let flowToken = 0;
  let flowDeepest = 0;
  /** A plain scalar in block context is open; it continues on lines indented more than this. */
  let plainOwner: number | null = null;
  /** Set when `onOpen` asks to stop (an object: the scan's closures set it). */
  const halt = { now: false };

  const ownerCol = () => block.at(-1)?.col ?? -1;
  const open = (col: number, inside = flow) => {
    halt.now = onOpen({ line, col: col + 1, depth: block.length + inside });
  };
  /** A block collection entry (`-`, `?`, or a key) at `col`: closes the deeper ones, opens its own unless continued. */
  const enter = (col: number, seq: boolean, keyDepth = 0) => {
    for (let top = block.at(-1); top !== undefined; top = block.at(-1)) {
      // A sequence may sit at its parent key's indentation (`key:\n- a`): it is inside that mapping.
      if (top.col < col || (top.col === col && seq && !top.seq)) break;
      block.pop();
    }
    block.push({ col, seq });
    open(col, keyDepth);
  };
  /** Moves `i` to the next line break (not past it). */
  const toLineEnd = () => {
    while (i < n && text[i] !== '\n') i++;
  };
  const lineBreak = () => {
    line++;
    lineStart = i + 1;
  };
  const isMarker = (at: number) =>
    at === lineStart && (text.startsWith('---', at) || text.startsWith('...', at)) && endsToken(text[at + 3]);

  /** The line whose start was looked at (each line's start is looked at once). */
  let startedLine = -1;

  while (i < n && !halt.now) {
    if (flow === 0 && i === lineStart && startedLine !== lineStart) {
      // A line in block context: its indentation decides what it continues.
      startedLine = lineStart;
      flowToken = 0;
      let j = i;
      while (text[j] === ' ') j++;
      let k = j;
      while (isBlank(text[k])) k++;
      const first = text[k];
      if (first === undefined || first === '\n') {
        i = k; // a blank line ends nothing
      } else if (first === '#') {
        plainOwner = null; // a comment line ends a plain scalar
        i = k;
        toLineEnd();
      } else if (isMarker(i)) {
        block.length = 0;
        plainOwner = null;
        atNode = true;
        i += 3;
      } else if (j === i && first === '%') {
        toLineEnd(); // a directive
      } else if (plainOwner !== null && j - i > plainOwner) {
        atNode = false; // the plain scalar goes on
        i = j;
      } else {
        plainOwner = null;
        atNode = true;
        i = j;
      }
      continue;
    }

    const c = text[i];
    const col = i - lineStart;
    if (c === '\n') {
      lineBreak();
      i++;
      continue;
    }
    if (isBlank(c)) {
      i++;
      continue;
    }
    if (c === '#' && (i === lineStart || isBlank(text[i - 1]))) {
      toLineEnd();
      continue;
    }

    if (flow > 0) {
      if (c === '[' || c === '{') {
        flow++;
        flowDeepest = Math.max(flowDeepest, flow);
        atNode = true;
        i++;
        open(col);
      } else if (c === ']' || c === '}') {
        flow--;
        atNode = false;
        tokenCol = flowCol;
        if (flow === 0) flowToken = flowDeepest;
        i++;
      } else if (c === ',' || c === ':') {
        atNode = true; // `:` reaches here only as an indicator: a plain scalar keeps its own colons
        i++;
      } else if (c === '?' && atNode && endsToken(text[i + 1])) {
        i++;
      } else if (atNode && (c === '"' || c === "'")) {
        skipQuoted();
        atNode = false;
      } else if (atNode && (c === '&' || c === '!')) {
        skipProperty(true);
      } else if (c === '*') {
        skipProperty(true);
        atNode = false;
      } else {
        // A plain scalar in flow context ends at a flow indicator, `: `, ` #` or the line's end.
        atNode = false;
        while (i < n) {
          const d = text[i];
          if (d === '\n' || isFlowIndicator(d)) break;
          if (d === ':' && (endsToken(text[i + 1]) || isFlowIndicator(text[i + 1]))) break;
          if (d === '#' && isBlank(text[i - 1])) break;
          i++;
        }
      }
      continue;
    }

    // Block context.
    if ((c === '-' || c === '?') && atNode && endsToken(text[i + 1])) {
      enter(col, c === '-');
      plainOwner = null;
      i++;
    } else if (c === ':' && endsToken(text[i + 1])) {
      enter(atNode ? col : tokenCol, false, atNode ? 0 : flowToken);
      plainOwner = null;
      atNode = true;
      i++;
    } else if (atNode && (c === '[' || c === '{')) {
      flow = 1;
      flowDeepest = 1;
      flowCol = col;
      tokenCol = col;
      plainOwner = null;
      atNode = true;
      i++;
      open(col);
    } else if (atNode && (c === '|' || c === '>')) {
      skipBlockScalar(ownerCol());
    } else if (atNode && (c === '"' || c === "'")) {
      tokenCol = col;
      flowToken = 0;
      plainOwner = null;
      skipQuoted();
      atNode = false;
    } else if (atNode && (c === '&' || c === '!')) {
      skipProperty(false);
    } else if (atNode && c === '*') {
      tokenCol = col;
      flowToken = 0;
      skipProperty(false);
      atNode = false;
    } else {
      // A plain scalar (or the rest of one): ends at `: `, ` #` or the line's end; brackets are text.
      if (atNode) {
        tokenCol = col;
        flowToken = 0;
        plainOwner = ownerCol();
        atNode = false;
      }
      while (i < n) {
        const d = text[i];
        if (d === '\n') break;
        if (d === ':' && endsToken(text[i + 1])) break;
        if (d === '#' && isBlank(text[i - 1])) break;
        i++;
      }
    }
  }

  /** From an opening quote past its closing one, over line breaks; `\` escapes in double quotes, `''` in single. */
  function skipQuoted(): void {
    const quote = text[i];
    i++;
    while (i < n) {
      const d = text[i];
      if (d === '\n') lineBreak();
      if (quote === '"' && d === '\\') {
        i++;
        if (text[i] === '\n') lineBreak();
        i++;
        continue;
      }
      if (d === quote) {
        if (quote === "'" && text[i + 1] === "'") {
          i += 2;
          continue;
        }
        i++;
        return;
      }
      i++;
    }
  }

  /** An anchor, tag or alias: up to whitespace (or, in flow context, a flow indicator). */
  function skipProperty(inFlow: boolean): void {
    i++;
    while (i < n && !endsToken(text[i]) && !(inFlow && isFlowIndicator(text[i]))) i++;
  }

  /**
   * `|` or `>` and its header, then every following line that is blank or indented more than
   * `parent` (the column of the `-` or key that holds it; -1 at the top, where a document marker
   * ends it). Leaves `i` at the start of the first line after it.
   */
  function skipBlockScalar(parent: number): void {
    toLineEnd();
    while (i < n) {
      // text[i] is the line break before the next line.
      const next = i + 1;
      let j = next;
      while (text[j] === ' ') j++;
      let k = j;
      while (isBlank(text[k])) k++;
      const blank = k >= n || text[k] === '\n';
      const marker = j === next && (text.startsWith('---', next) || text.startsWith('...', next)) && endsToken(text[next + 3]);
      lineBreak();
      i = next;
      if (!blank && (j - next <= parent || marker)) break;
      i = k;
      toLineEnd();
    }
    plainOwner = null;
  }
}
