/** `npm run docs:errors`: rewrites the table of error codes in docs/troubleshooting.md from shared/error-codes.ts. */
import { readFileSync, writeFileSync } from 'node:fs';
import { errorCodeTable, TABLE_MARKERS } from '#shared/error-codes.ts';

const doc = new URL('../docs/troubleshooting.md', import.meta.url);
const text = readFileSync(doc, 'utf8');
const [begin, end] = TABLE_MARKERS;
const from = text.indexOf(begin);
const to = text.indexOf(end);
if (from < 0 || to < from) throw new Error(`docs/troubleshooting.md has no ${begin} … ${end} block`);
writeFileSync(doc, `${text.slice(0, from + begin.length)}\n${errorCodeTable()}\n${text.slice(to)}`);
