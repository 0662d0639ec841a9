/**
 * A fast path for the common subset of YAML that spec files are written in, with every
 * node's position kept. The `yaml` library (full YAML 1.2, exact errors) is ~10x slower,
 * which matters for 10,000-task projects; so this parser handles what it is sure of and
 * answers `undefined` for ANYTHING else (syntax errors included), and the caller then uses
 * the `yaml` library. Its results must equal the library's `toJS()` (a test compares them).
 *
 * The subset: block mappings and sequences indented with spaces, one-line plain, single- and
 * double-quoted scalars, one-line flow collections (`[a, "b"]`, `{ k: v }`), comments.
 * Scalars resolve by the YAML 1.2 core schema, as the library does. Not handled (so: the
 * library): tabs, CR, BOM, directives and document markers, anchors, aliases, tags, block
 * scalars (| >), multi-line scalars or flow collections, complex keys, non-string keys,
 * duplicate keys, `- - x`, trailing commas in flow, NaN/Infinity.
 */

/** where a value is: offset of its first character (-1: no node, e.g. an empty value) */
export interface PosNode {
  readonly s: number;
  /** a mapping's entries: key -> key offset and value position */
  readonly m?: ReadonlyMap<string, { readonly k: number; readonly v: PosNode }>;
  /** a sequence's items */
  readonly i?: readonly PosNode[];
}

export interface Parsed {
  readonly data: unknown;
  readonly pos: PosNode;
}

class Bail {}
const BAIL = new Bail();

const NONE: PosNode = { s: -1 };

interface Line {
  /** offset of the line's first character */
  readonly ls: number;
  /** offset of the first non-space character */
  p: number;
  /** offset of the end of the line (the \n or the text's end) */
  readonly e: number;
}

const SP = 32;
const HASH = 35;

export function parseFast(text: string): Parsed | undefined {
  // tabs, CR, BOM and control characters: the library knows their rules
  if (/[\t\r\uFEFF\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/.test(text)) return undefined;
  try {
    return new FastParser(text).parseDocument();
  } catch (e) {
    if (e === BAIL) return undefined;
    throw e;
  }
}

class FastParser {
  private readonly lines: Line[] = [];
  private li = 0;

  constructor(private readonly t: string) {
    let ls = 0;
    const n = t.length;
    while (ls <= n) {
      let e = t.indexOf('\n', ls);
      if (e < 0) e = n;
      let p = ls;
      while (p < e && t.charCodeAt(p) === SP) p++;
      if (p < e && t.charCodeAt(p) !== HASH) {
        if (p === ls) {
          const c = t[p];
          if (c === '%' || t.startsWith('---', p) || t.startsWith('...', p)) throw BAIL;
        }
        this.lines.push({ ls, p, e });
      }
      ls = e + 1;
    }
  }

  parseDocument(): Parsed {
    if (this.lines.length === 0) return { data: null, pos: NONE };
    const first = this.lines[0]!;
    const r = this.block(first.p - first.ls);
    if (this.li < this.lines.length) throw BAIL;
    return r;
  }

  private indent(l: Line): number {
    return l.p - l.ls;
  }

  private isSeqItem(l: Line): boolean {
    return this.t.charCodeAt(l.p) === 45 /* - */ && (l.p + 1 >= l.e || this.t.charCodeAt(l.p + 1) === SP);
  }

  /** a block collection whose first line is lines[li], at exactly this indent */
  private block(indent: number): Parsed {
    const l = this.lines[this.li]!;
    if (this.indent(l) !== indent) throw BAIL;
    return this.isSeqItem(l) ? this.seq(indent) : this.map(indent);
  }

  private map(indent: number): Parsed {
    const obj: Record<string, unknown> = {};
    const m = new Map<string, { k: number; v: PosNode }>();
    const start = this.lines[this.li]!.p;
    while (this.li < this.lines.length) {
      const l = this.lines[this.li]!;
      const ind = this.indent(l);
      if (ind < indent) break;
      if (ind > indent || this.isSeqItem(l)) throw BAIL;
      const key = this.key(l.p, l.e);
      if (!key || m.has(key.key) || key.key === '__proto__' || key.key === '<<') throw BAIL;
      const v = this.entryValue(key.after, l, indent);
      obj[key.key] = v.data;
      m.set(key.key, { k: l.p, v: v.pos });
    }
    return { data: obj, pos: { s: start, m } };
  }

  private seq(indent: number): Parsed {
    const arr: unknown[] = [];
    const items: PosNode[] = [];
    const start = this.lines[this.li]!.p;
    while (this.li < this.lines.length) {
      const l = this.lines[this.li]!;
      const ind = this.indent(l);
      if (ind < indent) break;
      if (ind > indent || !this.isSeqItem(l)) {
        if (ind === indent) break; // the next key of a mapping this sequence is the value of
        throw BAIL;
      }
      const q = this.skipSpaces(l.p + 1, l.e);
      let v: Parsed;
      if (this.atEnd(q, l.e)) {
        this.li++;
        v = this.nested(indent, false);
      } else if (this.isSeqItemAt(q, l.e)) {
        throw BAIL;
      } else if (this.key(q, l.e)) {
        // `- key: value`: a mapping whose indent is the key's column
        l.p = q;
        v = this.map(q - l.ls);
      } else {
        v = this.inline(q, l.e);
        this.li++;
        this.noDeeper(indent);
      }
      arr.push(v.data);
      items.push(v.pos);
    }
    return { data: arr, pos: { s: start, i: items } };
  }

  private isSeqItemAt(q: number, e: number): boolean {
    return this.t.charCodeAt(q) === 45 && (q + 1 >= e || this.t.charCodeAt(q + 1) === SP);
  }

  /** the value of `key:` on line l, from `after` (just past the colon) */
  private entryValue(after: number, l: Line, indent: number): Parsed {
    const q = this.skipSpaces(after, l.e);
    if (this.atEnd(q, l.e)) {
      this.li++;
      return this.nested(indent, true);
    }
    const v = this.inline(q, l.e);
    this.li++;
    this.noDeeper(indent);
    return v;
  }

  /** what follows an empty `key:` or `-`: a deeper block, a same-indent sequence (for keys), or null */
  private nested(indent: number, sameIndentSeq: boolean): Parsed {
    const next = this.lines[this.li];
    if (!next) return { data: null, pos: NONE };
    const ind = this.indent(next);
    if (ind > indent) return this.block(ind);
    if (sameIndentSeq && ind === indent && this.isSeqItem(next)) return this.seq(indent);
    return { data: null, pos: NONE };
  }

  /** after a one-line value, a deeper line would be a continuation: not handled here */
  private noDeeper(indent: number): void {
    const next = this.lines[this.li];
    if (next && this.indent(next) > indent) throw BAIL;
  }

  private skipSpaces(p: number, e: number): number {
    while (p < e && this.t.charCodeAt(p) === SP) p++;
    return p;
  }

  /** at the end of the line's content (end, or a comment after a space) */
  private atEnd(q: number, e: number): boolean {
    return q >= e || (this.t.charCodeAt(q) === HASH && (q === 0 || this.t.charCodeAt(q - 1) === SP));
  }

  /** `key:` at p: the key and the offset after the colon; undefined if the line is no entry */
  private key(p: number, e: number): { key: string; after: number } | undefined {
    const t = this.t;
    const c = t[p];
    if (c === '[' || c === '{') return undefined; // a flow value (a flow key is not handled: inline() bails on it)
    if (c === '"' || c === "'") {
      const q = this.quoted(p, e);
      const r = this.skipSpaces(q.end, e);
      if (t.charCodeAt(r) !== 58 /* : */ || !(r + 1 >= e || t.charCodeAt(r + 1) === SP)) return undefined;
      return { key: q.value, after: r + 1 };
    }
    // a plain key ends at ': ' or a ':' ending the line
    for (let q = p; q < e; q++) {
      const ch = t.charCodeAt(q);
      if (ch === HASH && q > p && t.charCodeAt(q - 1) === SP) return undefined;
      if (ch === 58 && (q + 1 >= e || t.charCodeAt(q + 1) === SP)) {
        const raw = t.slice(p, q).trimEnd();
        if (raw === '' || raw.length > 1000 || !plainStartOk(raw, false)) throw BAIL;
        if (typeof resolvePlain(raw) !== 'string') throw BAIL;
        return { key: raw, after: q + 1 };
      }
    }
    return undefined;
  }

  /** a one-line value at q, then nothing but a comment */
  private inline(q: number, e: number): Parsed {
    const t = this.t;
    const c = t[q];
    let r: Parsed;
    let end: number;
    if (c === '"' || c === "'") {
      const s = this.quoted(q, e);
      r = { data: s.value, pos: { s: q } };
      end = s.end;
    } else if (c === '[' || c === '{') {
      const f = this.flow(q, e);
      r = f;
      end = f.end;
    } else {
      // plain: up to a comment; `: ` inside would be a nested mapping (an error): bail
      let x = q;
      for (; x < e; x++) {
        const ch = t.charCodeAt(x);
        if (ch === HASH && t.charCodeAt(x - 1) === SP) break;
        if (ch === 58 && (x + 1 >= e || t.charCodeAt(x + 1) === SP)) throw BAIL;
      }
      const raw = t.slice(q, x).trimEnd();
      if (!plainStartOk(raw, false)) throw BAIL;
      return { data: resolvePlain(raw), pos: { s: q } };
    }
    const z = this.skipSpaces(end, e);
    if (!this.atEnd(z, e)) throw BAIL;
    return r;
  }

  /** a flow collection on one line */
  private flow(p: number, e: number): Parsed & { end: number } {
    const t = this.t;
    const open = t[p];
    let q = this.skipSpaces(p + 1, e);
    if (open === '[') {
      const arr: unknown[] = [];
      const items: PosNode[] = [];
      if (t[q] === ']') return { data: arr, pos: { s: p, i: items }, end: q + 1 };
      for (;;) {
        const v = this.flowItem(q, e, false);
        arr.push(v.data);
        items.push(v.pos);
        q = this.skipSpaces(v.end, e);
        if (t[q] === ',') {
          q = this.skipSpaces(q + 1, e);
          if (t[q] === ']' || q >= e) throw BAIL;
          continue;
        }
        if (t[q] === ']') return { data: arr, pos: { s: p, i: items }, end: q + 1 };
        throw BAIL;
      }
    }
    const obj: Record<string, unknown> = {};
    const m = new Map<string, { k: number; v: PosNode }>();
    if (t[q] === '}') return { data: obj, pos: { s: p, m }, end: q + 1 };
    for (;;) {
      const k = this.flowItem(q, e, true);
      if (typeof k.data !== 'string' || m.has(k.data) || k.data === '__proto__' || k.data === '<<') throw BAIL;
      let r = this.skipSpaces(k.end, e);
      if (t[r] !== ':' || t.charCodeAt(r + 1) !== SP) throw BAIL;
      r = this.skipSpaces(r + 1, e);
      if (t[r] === ',' || t[r] === '}') throw BAIL; // an empty value: leave it to the library
      const v = this.flowItem(r, e, false);
      obj[k.data] = v.data;
      m.set(k.data, { k: q, v: v.pos });
      q = this.skipSpaces(v.end, e);
      if (t[q] === ',') {
        q = this.skipSpaces(q + 1, e);
        if (t[q] === '}' || q >= e) throw BAIL;
        continue;
      }
      if (t[q] === '}') return { data: obj, pos: { s: p, m }, end: q + 1 };
      throw BAIL;
    }
  }

  private flowItem(q: number, e: number, isKey: boolean): Parsed & { end: number } {
    const t = this.t;
    if (q >= e) throw BAIL;
    const c = t[q];
    if (c === '[' || c === '{') {
      if (isKey) throw BAIL;
      return this.flow(q, e);
    }
    if (c === '"' || c === "'") {
      const s = this.quoted(q, e);
      return { data: s.value, pos: { s: q }, end: s.end };
    }
    let x = q;
    for (; x < e; x++) {
      const ch = t[x];
      if (ch === ',' || ch === ']' || ch === '}') break;
      if (ch === '[' || ch === '{') throw BAIL;
      if (ch === '#' && t.charCodeAt(x - 1) === SP) throw BAIL;
      if (ch === ':' && (x + 1 >= e || t.charCodeAt(x + 1) === SP || ',]}'.includes(t[x + 1]!))) {
        if (isKey) break;
        throw BAIL; // an implicit pair inside a sequence
      }
    }
    const raw = t.slice(q, x).trimEnd();
    if (raw === '' || !plainStartOk(raw, true)) throw BAIL;
    const data = resolvePlain(raw);
    if (isKey && typeof data !== 'string') throw BAIL;
    return { data, pos: { s: q }, end: q + raw.length };
  }

  /** a quoted scalar closed on this line: its value and the offset after the closing quote */
  private quoted(p: number, e: number): { value: string; end: number } {
    const t = this.t;
    if (t[p] === "'") {
      let out = '';
      let q = p + 1;
      for (;;) {
        const close = t.indexOf("'", q);
        if (close < 0 || close >= e) throw BAIL;
        out += t.slice(q, close);
        if (t[close + 1] === "'") {
          out += "'";
          q = close + 2;
          continue;
        }
        return { value: out, end: close + 1 };
      }
    }
    let out = '';
    let q = p + 1;
    for (;;) {
      if (q >= e) throw BAIL;
      const ch = t[q]!;
      if (ch === '"') return { value: out, end: q + 1 };
      if (ch !== '\\') {
        // the run up to the next quote or escape in one slice: a character at a time made a
        // string per character (34 of the 255 MB a 10,000-task spec's load allocated)
        let run = q + 1;
        while (run < e && t[run] !== '"' && t[run] !== '\\') run++;
        out += t.slice(q, run);
        q = run;
        continue;
      }
      const esc = t[q + 1];
      const simple = esc === undefined ? undefined : ESCAPES[esc];
      if (simple !== undefined) {
        out += simple;
        q += 2;
        continue;
      }
      const len = esc === 'x' ? 2 : esc === 'u' ? 4 : esc === 'U' ? 8 : 0;
      if (len === 0) throw BAIL;
      const hex = t.slice(q + 2, q + 2 + len);
      if (hex.length !== len || !/^[0-9a-fA-F]+$/.test(hex) || q + 2 + len > e) throw BAIL;
      const cp = parseInt(hex, 16);
      if (cp > 0x10ffff) throw BAIL;
      out += String.fromCodePoint(cp);
      q += 2 + len;
    }
  }
}

const ESCAPES: Readonly<Record<string, string>> = {
  '0': '\0',
  a: '\x07',
  b: '\b',
  t: '\t',
  n: '\n',
  v: '\v',
  f: '\f',
  r: '\r',
  e: '\x1b',
  ' ': ' ',
  '"': '"',
  '/': '/',
  '\\': '\\',
  N: '\u0085',
  _: '\u00a0',
  L: '\u2028',
  P: '\u2029',
};

/** can a plain scalar start so? (no indicator that makes it something else) */
function plainStartOk(raw: string, flow: boolean): boolean {
  const c = raw[0];
  if (c === undefined) return true;
  if ('[]{},#&*!|>\'"%@`'.includes(c)) return false;
  if ((c === '-' || c === '?' || c === ':') && (raw.length === 1 || raw[1] === ' ' || (flow && ',[]{}'.includes(raw[1]!)))) return false;
  if (c === ':') return false;
  return true;
}

/** the YAML 1.2 core schema, as the `yaml` library resolves plain scalars */
function resolvePlain(s: string): unknown {
  switch (s) {
    case '':
    case '~':
    case 'null':
    case 'Null':
    case 'NULL':
      return null;
    case 'true':
    case 'True':
    case 'TRUE':
      return true;
    case 'false':
    case 'False':
    case 'FALSE':
      return false;
  }
  const c = s.charCodeAt(0);
  // only a sign, a digit or a dot can start a number
  if (!(c === 43 || c === 45 || c === 46 || (c >= 48 && c <= 57))) return s;
  if (/^0o[0-7]+$/.test(s)) return parseInt(s.substring(2), 8);
  if (/^[-+]?[0-9]+$/.test(s)) return parseInt(s, 10);
  if (/^0x[0-9a-fA-F]+$/.test(s)) return parseInt(s.substring(2), 16);
  if (/^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/.test(s)) throw BAIL;
  if (/^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$/.test(s)) return parseFloat(s);
  if (/^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)$/.test(s)) return parseFloat(s);
  return s;
}
