// Exclusion patterns (`--exclude PATTERN`, `--exclude-file FILE`).
//
// Semantics, as quoted in the README:
//
// - Patterns use gitignore syntax and are matched against the whole absolute path of each entry, as if
//   the `.gitignore` file sat in the file-system root `/`.
// - A pattern with no `/` in it, or only a trailing one, matches a name at any depth: `*.o`, `.cache`,
//   `SingletonLock`.
// - A pattern with a `/` at the start or in the middle is anchored at the file-system root:
//   `/home/ann/.cache` and `home/ann/tmp` both mean exactly `/home/ann/...`, never `/x/home/ann/...`.
// - A trailing `/` matches directories only: `node_modules/` excludes the directory (and so everything
//   in it) but not a file called `node_modules`. A pattern without one matches files and directories.
// - `*` and `?` do not cross a `/`; `**` does: `/home/**/build` matches `build` at any depth under
//   `/home`, `**/logs/*.log` any `*.log` directly inside a `logs` directory. `[a-z]` ranges work.
// - Everything inside an excluded directory is excluded. `!pattern` re-includes what an earlier pattern
//   excluded (the last matching pattern wins), but, as in git, not inside an excluded directory.
// - `~` alone or `~/` at the start of a pattern (after a `!`, if any) expands to $HOME, so `~/.cache`
//   means `/home/ann/.cache`. `~` anywhere else is an ordinary character (`~$*.docx` is no home).
// - Matching is case-sensitive, like the Linux file systems being backed up.
// - `#` starts a comment at the beginning of a pattern; `\#` and `\!` match a literal `#` or `!`.
// - File names that are not valid UTF-8 are decoded with replacement: every invalid byte sequence becomes
//   U+FFFD. Such a name is matched by wildcards (`*`, `?`) in place of its undecodable bytes, or by a
//   pattern naming one of its directories, but a pattern cannot spell the raw bytes themselves.
//
// Exclude files (`readExcludeFile`) hold one pattern per line; blank lines and lines starting with `#`
// (after optional indentation) are ignored; trailing whitespace is trimmed (a backslash-escaped one is
// kept); leading whitespace is part of the pattern.

import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import ignore, { type Ignore } from 'ignore';
import { FlashbackError, errorMessage } from '../errors/errors.js';

/** How many lookups the underlying matcher caches before it is rebuilt, to bound memory on huge trees. */
const CACHE_LIMIT = 1 << 17;

export function readExcludeFile(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new FlashbackError('ERR_USAGE', `cannot read exclude file ${path}: ${errorMessage(err)}`, {
      hint: 'check the path given to --exclude-file',
      cause: err,
    });
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const patterns: string[] = [];
  for (const raw of text.split('\n')) {
    const line = trimTrailing(raw);
    const start = line.trimStart();
    if (start === '' || start.startsWith('#')) continue;
    patterns.push(line);
  }
  return patterns;
}

/** Trims trailing whitespace (including a CR), but keeps one backslash-escaped whitespace character. */
function trimTrailing(line: string): string {
  const t = line.replace(/[ \t\r\v\f]+$/, '');
  return t.endsWith('\\') && t.length < line.length && line[t.length] !== '\r' ? t + line[t.length] : t;
}

/** `~` or `~/...`, after an optional `!`; glob characters in $HOME are escaped to stay literal. */
function expandHome(pattern: string, home: string): string {
  const neg = pattern.startsWith('!') ? '!' : '';
  const body = pattern.slice(neg.length);
  if (body !== '~' && !body.startsWith('~/')) return pattern;
  return neg + home.replace(/\/+$/, '').replace(/[\\*?[\]]/g, '\\$&') + body.slice(1);
}

/**
 * Every path goes through `ignore` unless it can be decided without it. Most paths of a backup match no
 * pattern at all, and most patterns are plain names (`node_modules/`) or `*suffix` (`*.o`): for those a
 * string comparison gives exactly the answer of `ignore`'s regular expressions (the differential test in
 * test/exclude.test.ts holds the two to it). Any other pattern that could match a path hands that path
 * to `ignore`. This makes 100k paths against 50 patterns take about 0.1 s instead of 0.6 s.
 */
interface Rule {
  negative: boolean;
  dirOnly: boolean;
  /**
   * Exact answers: name (the base name equals text), suffix (it ends with text). Necessary conditions,
   * after which `ignore` decides: stem (the base name starts with text), prefix (the path starts with
   * text), infix (the path contains text), any (always).
   */
  kind: 'name' | 'suffix' | 'stem' | 'prefix' | 'infix' | 'any';
  text: string;
}

const GLOB = /[*?[\\]/;

/** The literal text before the first wildcard or escape. */
const literal = (s: string): string => {
  const glob = s.search(GLOB);
  return glob < 0 ? s : s.slice(0, glob);
};

const PLAIN = /^[^\s*?[\]\\/!#](?:[^\s*?[\]\\/!#]| (?! *$))*$/;

function ruleOf(pattern: string): Rule | undefined {
  if (pattern === '' || pattern.startsWith('#')) return undefined;
  const negative = pattern.startsWith('!');
  const p = (negative ? pattern.slice(1) : pattern).replace(/ +$/, '');
  if (p === '') return undefined;
  const dirOnly = p.length > 1 && p.endsWith('/') && !p.endsWith('\\/');
  const body = dirOnly ? p.slice(0, -1) : p;
  const any: Rule = { negative, dirOnly, kind: 'any', text: '' };
  if (PLAIN.test(body)) return { negative, dirOnly, kind: 'name', text: body };
  if (body.startsWith('*') && PLAIN.test(body.slice(1))) return { negative, dirOnly, kind: 'suffix', text: body.slice(1) };
  if (body.startsWith(' ')) return any;
  const rule = (kind: Rule['kind'], text: string): Rule => (text === '' ? any : { negative, dirOnly, kind, text });
  if (!body.includes('/')) return rule('stem', literal(body));
  const anchored = body.startsWith('/') ? body.slice(1) : body;
  if (anchored.startsWith('**/')) return rule('infix', literal(anchored.slice(3)));
  return anchored.startsWith('/') ? any : rule('prefix', literal(anchored));
}

/** Whether a rule that is not exact could match the path `rel` (base name `name`) itself. */
function mayMatch(r: Rule, rel: string, name: string): boolean {
  switch (r.kind) {
    case 'stem':
      return name.startsWith(r.text);
    case 'prefix':
      return rel.startsWith(r.text);
    case 'infix':
      return rel.includes(r.text);
    default:
      return true;
  }
}

export class Excluder {
  readonly #patterns: string[];
  readonly #expanded: string[];
  readonly #rules: Rule[] = [];
  /** Reject filter over the positive rules: a path none of them could match is not excluded by itself. */
  readonly #names = new Set<string>();
  /** Suffixes by their last character code. */
  readonly #suffixes = new Map<number, string[]>();
  readonly #prefixes: RegExp | undefined;
  /** The other positive rules that are not exact. */
  readonly #others: Rule[] = [];
  readonly #nothing: boolean;
  #matcher: Ignore;
  #lookups = 0;
  /** Directory (relative, with trailing '/') → excluded. Bounded like the matcher's cache. */
  #dirs = new Map<string, boolean>();
  /** The last parent looked up: a directory walk asks about all entries of one directory in a row. */
  #lastDir = '';
  #lastDirExcluded = false;

  /** `opts.home` overrides $HOME for `~` expansion (tests). */
  constructor(patterns: string[], opts: { home?: string } = {}) {
    this.#patterns = [...patterns];
    const home = opts.home ?? (process.env.HOME || homedir());
    this.#expanded = this.#patterns.map((p) => expandHome(p, home));
    const prefixes: string[] = [];
    for (const pattern of this.#expanded) {
      const rule = ruleOf(pattern);
      if (rule === undefined) continue;
      this.#rules.push(rule);
      if (rule.negative) continue;
      if (rule.kind === 'name') this.#names.add(rule.text);
      else if (rule.kind === 'suffix') {
        const c = rule.text.charCodeAt(rule.text.length - 1);
        this.#suffixes.set(c, [...(this.#suffixes.get(c) ?? []), rule.text]);
      } else if (rule.kind === 'prefix') prefixes.push(rule.text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'));
      else this.#others.push(rule);
    }
    this.#prefixes = prefixes.length > 0 ? new RegExp(`^(?:${prefixes.join('|')})`) : undefined;
    this.#nothing = !this.#rules.some((r) => !r.negative);
    this.#matcher = this.#build();
  }

  #build(): Ignore {
    return ignore({ ignorecase: false, allowRelativePaths: true }).add(this.#expanded);
  }

  /** absPath: the absolute path of the entry as raw bytes; isDir: whether it is a directory */
  excluded(absPath: Buffer, isDir: boolean): boolean {
    if (this.#nothing) return false;
    let start = 0;
    while (start < absPath.length && absPath[start] === 0x2f) start++;
    let end = absPath.length;
    while (end > start && absPath[end - 1] === 0x2f) end--;
    if (start === end) return false; // the root itself is never excluded
    const rel = absPath.toString('utf8', start, end);
    return this.#check(isDir ? rel + '/' : rel);
  }

  /** rel: the path without its leading '/', with a trailing '/' for a directory. */
  #check(rel: string): boolean {
    const last = rel.lastIndexOf('/', rel.length - 2);
    if (last >= 0) {
      const dir = rel.slice(0, last + 1);
      if (dir !== this.#lastDir) {
        this.#lastDirExcluded = this.#dirExcluded(dir);
        this.#lastDir = dir;
      }
      if (this.#lastDirExcluded) return true;
    }
    const isDir = rel.endsWith('/');
    const name = rel.slice(last + 1, isDir ? rel.length - 1 : rel.length);
    if (!this.#maybe(rel, name)) return false;
    // The parent is not excluded, so the last rule that matches `rel` itself decides.
    for (let i = this.#rules.length - 1; i >= 0; i--) {
      const r = this.#rules[i];
      if (r.dirOnly && !isDir) continue;
      if (r.kind === 'name' ? name === r.text : r.kind === 'suffix' ? name.endsWith(r.text) : false) {
        return !r.negative;
      }
      if (r.kind !== 'name' && r.kind !== 'suffix' && mayMatch(r, rel, name)) return this.#ignores(rel);
    }
    return false;
  }

  #ignores(rel: string): boolean {
    if (++this.#lookups > CACHE_LIMIT) {
      this.#matcher = this.#build();
      this.#lookups = 0;
    }
    return this.#matcher.ignores(rel);
  }

  #dirExcluded(dir: string): boolean {
    const known = this.#dirs.get(dir);
    if (known !== undefined) return known;
    const result = this.#check(dir);
    if (this.#dirs.size >= CACHE_LIMIT) this.#dirs = new Map();
    this.#dirs.set(dir, result);
    return result;
  }

  /** Could any positive rule match the path itself? */
  #maybe(rel: string, name: string): boolean {
    if (this.#names.has(name)) return true;
    const suffixes = this.#suffixes.get(name.charCodeAt(name.length - 1));
    if (suffixes !== undefined) for (const s of suffixes) if (name.endsWith(s)) return true;
    if (this.#prefixes !== undefined && this.#prefixes.test(rel)) return true;
    for (const r of this.#others) if (mayMatch(r, rel, name)) return true;
    return false;
  }

  /** The patterns as given (before `~` expansion). */
  get patterns(): string[] {
    return [...this.#patterns];
  }
}
