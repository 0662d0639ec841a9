/**
 * One spec file read and parsed with its positions kept, so that any value in it (found by
 * its path of keys and indices) maps back to `file:line:col`.
 *
 * Parsing takes the fast path (yaml-fast.ts) when the file is in the common subset of YAML
 * it handles, else the `yaml` library, which also reports every syntax error.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { Document, Node as YamlNode } from 'yaml';
import type { Diagnostic, SourceLoc } from './diagnostic.js';
import { errorAt } from './diagnostic.js';
import type { Parsed, PosNode } from './yaml-fast.js';
import { parseFast } from './yaml-fast.js';
import { errnoCode } from '../util/errno.js';

export type PathSeg = string | number;
export type Path = readonly PathSeg[];

/** what maps a path inside some spec data back to `file:line:col` (a file, or an expanded workstream) */
export interface Locator {
  /** the data the paths point into */
  readonly data: unknown;
  loc(path: Path, which?: 'value' | 'key'): SourceLoc;
}

export class SpecSource implements Locator {
  private lineStarts: number[] | undefined;

  constructor(
    /** root-relative, forward slashes */
    readonly file: string,
    private readonly text: string,
    /** the parsed document as plain data */
    readonly data: unknown,
    private readonly pos: PosNode,
  ) {}

  /**
   * Where the value at `path` is (or its key, with which = 'key'). A path that does not exist
   * in full maps to the deepest node it reaches (so a missing key points at its parent
   * mapping); an empty value (`key:`) maps to its key.
   */
  loc(path: Path, which: 'value' | 'key' = 'value'): SourceLoc {
    let node: PosNode | undefined = this.pos;
    let best = node.s >= 0 ? node.s : 0;
    let bestKey = -1;
    for (let i = 0; i < path.length && node; i++) {
      const seg = path[i]!;
      let next: PosNode | undefined;
      let k = -1;
      if (node.m) {
        const e = node.m.get(String(seg));
        if (e) {
          next = e.v;
          k = e.k;
        }
      } else if (node.i) {
        next = node.i[typeof seg === 'number' ? seg : Number(seg)];
      }
      if (!next) break;
      if (i === path.length - 1) bestKey = k;
      if (next.s >= 0) best = next.s;
      else if (k >= 0) best = k;
      node = next;
    }
    return this.at(which === 'key' && bestKey >= 0 ? bestKey : best);
  }

  /** the location of a character offset in the text */
  at(offset: number): SourceLoc {
    if (!this.lineStarts) {
      const starts = [0];
      for (let i = this.text.indexOf('\n'); i >= 0; i = this.text.indexOf('\n', i + 1)) starts.push(i + 1);
      this.lineStarts = starts;
    }
    const ls = this.lineStarts;
    let lo = 0;
    let hi = ls.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (ls[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { file: this.file, line: lo + 1, col: offset - ls[lo]! + 1 };
  }
}

export type ParsedFile = { ok: true; src: SpecSource } | { ok: false; errors: Diagnostic[] };

type YamlLibrary = typeof import('yaml');
let yamlLibrary: YamlLibrary | undefined;

/**
 * The `yaml` library, loaded the first time a file is outside the fast parser's subset: its 72
 * modules took ~30 ms of every build that read the spec, which the fast parser nearly always
 * reads alone.
 */
function library(): YamlLibrary {
  return (yamlLibrary ??= createRequire(import.meta.url)('yaml') as YamlLibrary);
}

/** parse with the `yaml` library: data and positions, or its errors */
export function parseWithLibrary(text: string): { ok: true; parsed: Parsed } | { ok: false; errors: Array<{ offset: number; code: string; message: string }> } {
  const { LineCounter, parseDocument } = library();
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return { ok: false, errors: doc.errors.map((e) => ({ offset: Math.max(0, e.pos[0]), code: e.code, message: e.message })) };
  }
  const data = doc.toJS({ maxAliasCount: 1000 }) as unknown;
  return { ok: true, parsed: { data, pos: posOf(doc.contents, doc, new Map()) } };
}

const NONE: PosNode = { s: -1 };

function posOf(node: unknown, doc: Document.Parsed, seen: Map<unknown, PosNode>): PosNode {
  if (node === null || node === undefined) return NONE;
  const { isAlias, isMap, isScalar, isSeq } = library();
  if (isAlias(node)) return posOf(node.resolve(doc), doc, seen);
  const known = seen.get(node);
  if (known) return known;
  const r = (node as YamlNode).range;
  const s = r ? (r[0] === r[1] && isScalar(node) ? -1 : r[0]) : -1;
  if (isMap(node)) {
    const m = new Map<string, { k: number; v: PosNode }>();
    const p: PosNode = { s, m };
    seen.set(node, p);
    for (const item of node.items) {
      const key = isScalar(item.key) ? item.key.value : item.key;
      const ks = (item.key as YamlNode | null)?.range?.[0] ?? -1;
      const name = String(key);
      if (!m.has(name)) m.set(name, { k: ks, v: posOf(item.value, doc, seen) });
    }
    return p;
  }
  if (isSeq(node)) {
    const items: PosNode[] = [];
    const p: PosNode = { s, i: items };
    seen.set(node, p);
    for (const it of node.items) items.push(posOf(it, doc, seen));
    return p;
  }
  return { s };
}

/** parse YAML text; syntax errors become E_YAML diagnostics at the yaml library's position */
export function parseSpecText(file: string, text: string): ParsedFile {
  const fast = parseFast(text);
  if (fast) return { ok: true, src: new SpecSource(file, text, fast.data, fast.pos) };
  let lib: ReturnType<typeof parseWithLibrary>;
  try {
    lib = parseWithLibrary(text);
  } catch (e) {
    // e.g. too many aliases (a "billion laughs" document)
    return { ok: false, errors: [errorAt('E_YAML', `YAML error: ${(e as Error).message}`, { file, line: 1, col: 1 }, 'simplify the document')] };
  }
  if (lib.ok) return { ok: true, src: new SpecSource(file, text, lib.parsed.data, lib.parsed.pos) };
  const where = new SpecSource(file, text, null, NONE);
  // after the first syntax error the parser's further complaints are mostly its echoes:
  // report the first, and any duplicate keys (which stand on their own)
  const shown = lib.errors.filter((e, i) => i === 0 || e.code === 'DUPLICATE_KEY');
  return {
    ok: false,
    errors: shown.map((e) => {
      const msg = e.message.split('\n')[0]!.replace(/\s+at line \d+, column \d+:?$/, '');
      return errorAt('E_YAML', `YAML syntax error: ${msg}`, where.at(e.offset), yamlHint(e.code, msg));
    }),
  };
}

export async function readSpecFile(root: string, file: string): Promise<ParsedFile> {
  let text: string;
  try {
    text = await readFile(`${root}/${file}`, 'utf8');
  } catch (e) {
    const code = errnoCode(e) ?? 'error';
    if (code === 'ENOENT' && file === 'uet.config.yaml') {
      return {
        ok: false,
        errors: [errorAt('E_CONFIG_NOT_FOUND', `no uet.config.yaml in ${root}`, undefined, 'run uet inside a uet project (a folder holding uet.config.yaml, or below one)')],
      };
    }
    return {
      ok: false,
      errors: [errorAt('E_READ', `cannot read ${file}: ${code}`, { file, line: 1, col: 1 }, 'check that the file exists and is readable')],
    };
  }
  return parseSpecText(file, text);
}

function yamlHint(code: string, message: string): string {
  if (/quote/i.test(message)) return 'a quoted string must be closed on its line (or its block) with the same quote';
  switch (code) {
    case 'DUPLICATE_KEY':
      return 'a key may appear only once in a mapping: merge or rename the two';
    case 'BAD_INDENT':
    case 'MISSING_CHAR':
    case 'UNEXPECTED_TOKEN':
      return 'check the indentation and punctuation on this line and the one before (YAML indents with spaces, not tabs)';
    case 'TAB_AS_INDENT':
      return 'YAML indents with spaces, not tabs';
    case 'MULTIPLE_DOCS':
      return 'a spec file holds one YAML document: remove the extra `---`';
    case 'BLOCK_AS_IMPLICIT_KEY':
    case 'MULTILINE_IMPLICIT_KEY':
      return 'a key must fit on one line; is a `:` or a quote missing?';
    case 'BAD_ALIAS':
      return "a value starting with * is an alias in YAML: quote it (e.g. '*/test')";
    default:
      return 'fix the YAML syntax at this position (quote strings holding `: `, `#`, `*`, `&`, `{` or `[`)';
  }
}
