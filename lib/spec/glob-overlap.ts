/**
 * Could two globs match one path? Used by the graph compiler to find workstreams whose
 * files_scope may write the same files. The answer compares what the globs mean, not how
 * they are spelled, and is conservative: where the analysis is unsure it answers true.
 *
 * Semantics follow picomatch (which uet matches with): `/` separates segments, `**` as a
 * whole segment matches zero or more segments, `*` any run of characters within one
 * segment, `?` one character, `[...]` a class (`[!...]`/`[^...]` negated), `{a,b}`
 * alternatives. Approximations, all in the "say true" direction:
 *  - dotfile rules are ignored (`*` is taken to match `.x` too);
 *  - extglobs (`@(..)`, `!(..)`, `+(..)`, `*(..)`, `?(..)`) and POSIX classes (`[[:alpha:]]`)
 *    count as "anything" in their segment; numeric/char ranges `{1..9}` as `*`;
 *  - a glob whose last segment is a plain name without an extension (`lib`, `lib/parser`,
 *    `.github`) may name a folder, so it also covers everything below it (`lib/a.ts` does not);
 *  - a negated glob (`!x`), a `..` that does not follow a plain name, or more than 256 brace
 *    alternatives: unsure, true.
 * Matching is case-sensitive, as picomatch's is.
 */

type CharSet = { readonly neg: boolean; readonly ranges: ReadonlyArray<readonly [number, number]> };
type Tok =
  | { readonly t: 'lit'; readonly c: number }
  | { readonly t: 'any' } // ? : one character
  | { readonly t: 'star' } // * : any run of characters
  | { readonly t: 'set'; readonly set: CharSet };
type Seg = { readonly globstar: true } | { readonly globstar: false; readonly toks: readonly Tok[]; readonly literal: boolean };

const GLOBSTAR: Seg = { globstar: true };
const MAX_ALTERNATIVES = 256;

/** true when some path could match both globs (when unsure: true) */
export function globsOverlap(a: string, b: string): boolean {
  if (a === b) return true;
  const as = compile(a);
  const bs = compile(b);
  if (as === null || bs === null) return true;
  for (const x of as) for (const y of bs) if (pathsOverlap(x, y)) return true;
  return false;
}

/** every brace alternative of a glob as segments; null when unsure */
function compile(glob: string): Seg[][] | null {
  if (glob.startsWith('!')) return null;
  const alts = expandBraces(glob);
  if (alts === null) return null;
  const out: Seg[][] = [];
  for (const alt of alts) {
    const segs = toSegments(alt);
    if (segs === null) return null;
    out.push(segs);
  }
  return out;
}

/** index of the `close` matching the opener at `open`, honouring escapes; -1 if none */
function findClose(s: string, open: number, openCh: string, closeCh: string): number {
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    const c = s[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (c === openCh) depth++;
    else if (c === closeCh && --depth === 0) return i;
  }
  return -1;
}

/** split a brace body at top-level commas */
function splitTopLevel(body: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === '\\') i++;
    else if (c === '{') depth++;
    else if (c === '}') depth--;
    else if (c === ',' && depth === 0) {
      parts.push(body.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(body.slice(start));
  return parts;
}

function expandBraces(g: string): string[] | null {
  let results: string[] = [g];
  let done: string[] = [];
  for (let guard = 0; results.length > 0; guard++) {
    if (guard > 10_000) return null;
    const next: string[] = [];
    for (const s of results) {
      const open = firstBrace(s);
      if (open < 0) {
        done.push(s);
        continue;
      }
      const close = findClose(s, open, '{', '}');
      if (close < 0) {
        done.push(s); // an unclosed brace is a literal
        continue;
      }
      const body = s.slice(open + 1, close);
      const pre = s.slice(0, open);
      const post = s.slice(close + 1);
      const parts = splitTopLevel(body);
      if (parts.length === 1) {
        if (/^[^{}]*\.\.[^{}]*$/.test(body)) next.push(`${pre}*${post}`); // {1..9}: some run of characters
        else next.push(`${pre}\u0000${body}\u0001${post}`); // a literal {x}: protect it from further expansion
        continue;
      }
      for (const p of parts) next.push(pre + p + post);
      if (next.length + done.length > MAX_ALTERNATIVES) return null;
    }
    results = next;
  }
  done = done.map((s) => s.replace(/\u0000/g, '\\{').replace(/\u0001/g, '\\}'));
  return done;
}

/** first unescaped `{` outside a char class */
function firstBrace(s: string): number {
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '\\') i++;
    else if (c === '[') {
      const close = classEnd(s, i);
      if (close > 0) i = close;
    } else if (c === '{') return i;
  }
  return -1;
}

/** index of the `]` closing a class that opens at `i`, or -1 */
function classEnd(s: string, i: number): number {
  let j = i + 1;
  if (s[j] === '!' || s[j] === '^') j++;
  if (s[j] === ']') j++; // a leading ] is literal
  for (; j < s.length; j++) {
    if (s[j] === '\\') j++;
    else if (s[j] === '[' && s[j + 1] === ':') {
      const e = s.indexOf(':]', j + 2);
      if (e < 0) return -1;
      j = e + 1;
    } else if (s[j] === ']') return j;
    else if (s[j] === '/') return -1;
  }
  return -1;
}

function toSegments(glob: string): Seg[] | null {
  let g = glob;
  while (g.startsWith('./')) g = g.slice(2);
  while (g.startsWith('/')) g = g.slice(1);
  // split at '/', but not inside an extglob's parentheses
  const raw: string[] = [];
  let start = 0;
  for (let i = 0; i < g.length; i++) {
    const c = g[i];
    if (c === '\\') i++;
    else if (c === '(' && i > 0 && '@!+*?'.includes(g[i - 1]!)) {
      const close = findClose(g, i, '(', ')');
      if (close < 0) continue;
      if (g.slice(i, close).includes('/')) return null;
      i = close;
    } else if (c === '/') {
      raw.push(g.slice(start, i));
      start = i + 1;
    }
  }
  raw.push(g.slice(start));
  const segs: Seg[] = [];
  for (const r of raw) {
    if (r === '' || r === '.') continue;
    if (r === '..') {
      const top = segs[segs.length - 1];
      if (!top || top.globstar || !top.literal) return null;
      segs.pop();
      continue;
    }
    if (r === '**') {
      if (segs[segs.length - 1] !== GLOBSTAR) segs.push(GLOBSTAR);
      continue;
    }
    segs.push(tokenize(r));
  }
  const last = segs[segs.length - 1];
  if (last && !last.globstar && last.literal && !/^.+\.[^.]*$/.test(lastRaw(raw))) segs.push(GLOBSTAR); // it may be a folder
  return segs;
}

function lastRaw(raw: readonly string[]): string {
  for (let i = raw.length - 1; i >= 0; i--) if (raw[i] !== '' && raw[i] !== '.') return raw[i]!;
  return '';
}

const ALL: CharSet = { neg: true, ranges: [] };

function tokenize(seg: string): Seg {
  const toks: Tok[] = [];
  let literal = true;
  const pushStar = (): void => {
    literal = false;
    if (toks[toks.length - 1]?.t !== 'star') toks.push({ t: 'star' });
  };
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i]!;
    if (c === '\\' && i + 1 < seg.length) {
      toks.push({ t: 'lit', c: seg.charCodeAt(++i) });
    } else if ('@!+*?'.includes(c) && seg[i + 1] === '(') {
      const close = findClose(seg, i + 1, '(', ')');
      if (close < 0) {
        toks.push({ t: 'lit', c: seg.charCodeAt(i) });
        continue;
      }
      pushStar();
      i = close;
    } else if (c === '*') {
      pushStar();
    } else if (c === '?') {
      literal = false;
      toks.push({ t: 'any' });
    } else if (c === '[') {
      const close = classEnd(seg, i);
      if (close < 0) {
        toks.push({ t: 'lit', c: seg.charCodeAt(i) });
        continue;
      }
      literal = false;
      toks.push({ t: 'set', set: parseClass(seg.slice(i + 1, close)) });
      i = close;
    } else {
      toks.push({ t: 'lit', c: seg.charCodeAt(i) });
    }
  }
  return { globstar: false, toks, literal };
}

function parseClass(body: string): CharSet {
  const neg = body[0] === '!' || body[0] === '^';
  if (body.includes('[:')) return ALL; // POSIX classes: unsure, so "any character"
  const src = neg ? body.slice(1) : body;
  const codes: Array<{ c: number; escaped: boolean }> = [];
  for (let j = 0; j < src.length; j++) {
    if (src[j] === '\\' && j + 1 < src.length) codes.push({ c: src.charCodeAt(++j), escaped: true });
    else codes.push({ c: src.charCodeAt(j), escaped: false });
  }
  const ranges: Array<[number, number]> = [];
  for (let k = 0; k < codes.length; ) {
    const lo = codes[k]!;
    const dash = codes[k + 1];
    const hi = codes[k + 2];
    if (dash && hi && dash.c === 45 /* - */ && !dash.escaped) {
      ranges.push([Math.min(lo.c, hi.c), Math.max(lo.c, hi.c)]);
      k += 3;
    } else {
      ranges.push([lo.c, lo.c]);
      k += 1;
    }
  }
  return { neg, ranges };
}

/** the set of characters a token can consume (star/any: everything but '/') */
function setOf(t: Tok): CharSet {
  switch (t.t) {
    case 'lit':
      return { neg: false, ranges: [[t.c, t.c]] };
    case 'any':
    case 'star':
      return ALL;
    case 'set':
      return t.set;
  }
}

function merged(ranges: ReadonlyArray<readonly [number, number]>): Array<[number, number]> {
  const r = ranges.map(([lo, hi]) => [lo, hi] as [number, number]).sort((x, y) => x[0] - y[0]);
  const out: Array<[number, number]> = [];
  for (const x of r) {
    const top = out[out.length - 1];
    if (top && x[0] <= top[1] + 1) top[1] = Math.max(top[1], x[1]);
    else out.push(x);
  }
  return out;
}

/** some character in [lo, hi] lies outside every range of `excluded` */
function escapes(lo: number, hi: number, excluded: Array<[number, number]>): boolean {
  let cur = lo;
  for (const [elo, ehi] of excluded) {
    if (ehi < cur) continue;
    if (elo > cur) return true;
    cur = ehi + 1;
    if (cur > hi) return false;
  }
  return cur <= hi;
}

function setsIntersect(a: CharSet, b: CharSet): boolean {
  if (a.neg && b.neg) return true; // two complements of finite sets always share a character
  if (!a.neg && !b.neg) {
    for (const [alo, ahi] of a.ranges) for (const [blo, bhi] of b.ranges) if (alo <= bhi && blo <= ahi) return true;
    return false;
  }
  const pos = a.neg ? b : a;
  const neg = merged(a.neg ? a.ranges : b.ranges);
  for (const [lo, hi] of pos.ranges) if (escapes(lo, hi, neg)) return true;
  return false;
}

/**
 * Depth-first search of the product of two sequences' automata, from (0, 0): can both reach
 * their ends together? `step` pushes the states reachable from (i, j).
 */
function productReachesEnd(n: number, m: number, step: (i: number, j: number, push: (i: number, j: number) => void) => void): boolean {
  const seen = new Uint8Array((n + 1) * (m + 1));
  const stack: number[] = [0, 0];
  const push = (i: number, j: number): void => void stack.push(i, j);
  while (stack.length > 0) {
    const j = stack.pop()!;
    const i = stack.pop()!;
    const key = i * (m + 1) + j;
    if (seen[key]) continue;
    seen[key] = 1;
    if (i === n && j === m) return true;
    step(i, j, push);
  }
  return false;
}

/** can one segment name match both token sequences? */
function segmentsOverlap(a: readonly Tok[], b: readonly Tok[]): boolean {
  return productReachesEnd(a.length, b.length, (i, j, push) => {
    const ta = a[i];
    const tb = b[j];
    if (ta?.t === 'star') push(i + 1, j);
    if (tb?.t === 'star') push(i, j + 1);
    if (ta && tb && setsIntersect(setOf(ta), setOf(tb))) push(ta.t === 'star' ? i : i + 1, tb.t === 'star' ? j : j + 1);
  });
}

/** can one path match both segment sequences? */
function pathsOverlap(a: readonly Seg[], b: readonly Seg[]): boolean {
  return productReachesEnd(a.length, b.length, (i, j, push) => {
    const sa = a[i];
    const sb = b[j];
    if (sa?.globstar) push(i + 1, j);
    if (sb?.globstar) push(i, j + 1);
    if (!sa || !sb) return;
    if (sa.globstar && sb.globstar) return; // both consuming: same state
    if (sa.globstar) push(i, j + 1);
    else if (sb.globstar) push(i + 1, j);
    else if (segmentsOverlap(sa.toks, sb.toks)) push(i + 1, j + 1);
  });
}
