import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ignore from 'ignore';
import { Excluder, readExcludeFile } from '../src/core/source/exclude.js';
import { FlashbackError } from '../src/core/errors/errors.js';

const HOME = '/home/ann';
const SAMPLE = readExcludeFile(new URL('../../docs/examples/excludes.txt', import.meta.url).pathname);

type Case = [patterns: string[], path: string, isDir: boolean, expected: boolean];
const cases: Case[] = [
  // names at any depth
  [['*.o'], '/src/a.o', false, true],
  [['*.o'], '/src/deep/er/a.o', false, true],
  [['*.o'], '/src/a.oo', false, false],
  [['*.o'], '/src/a.o/inside', false, true], // a directory called a.o, and so its content
  [['.cache'], '/home/ann/.cache', true, true],
  [['.cache'], '/home/ann/.cache', false, true],
  [['.cache'], '/home/ann/.cache/x/y', false, true],
  [['.cache'], '/home/ann/.cachet', false, false],
  // trailing '/' = directories only
  [['node_modules/'], '/p/node_modules', true, true],
  [['node_modules/'], '/p/node_modules', false, false],
  [['node_modules/'], '/p/node_modules/left-pad/index.js', false, true],
  // anchoring at the file-system root
  [['/home/ann/.cache'], '/home/ann/.cache', true, true],
  [['/home/ann/.cache'], '/home/ann/.cache/f', false, true],
  [['/home/ann/.cache'], '/home/bob/home/ann/.cache', true, false],
  [['home/ann/tmp'], '/home/ann/tmp', true, true],
  [['home/ann/tmp'], '/x/home/ann/tmp', true, false],
  [['home/ann/tmp'], '/home/ann/tmp2', true, false],
  [['/etc/*.conf'], '/etc/a.conf', false, true],
  [['/etc/*.conf'], '/etc/sub/a.conf', false, false],
  // ** crosses directories, * and ? do not
  [['/home/**/build'], '/home/ann/p/q/build', true, true],
  [['/home/**/build'], '/home/build', true, true],
  [['/home/**/build'], '/srv/build', true, false],
  [['**/logs/*.log'], '/var/x/logs/a.log', false, true],
  [['**/logs/*.log'], '/var/x/logs/old/a.log', false, false],
  [['/home/*/x'], '/home/ann/sub/x', false, false],
  [['/tmp/?.txt'], '/tmp/a.txt', false, true],
  [['/tmp/?.txt'], '/tmp/ab.txt', false, false],
  [['/data/[a-c]*'], '/data/beta', false, true],
  [['/data/[a-c]*'], '/data/delta', false, false],
  // negation: last match wins; nothing inside an excluded directory comes back
  [['*.log', '!keep.log'], '/v/keep.log', false, false],
  [['*.log', '!keep.log'], '/v/other.log', false, true],
  [['!keep.log', '*.log'], '/v/keep.log', false, true],
  [['logs/', '!logs/keep.log'], '/v/logs/keep.log', false, true],
  [['/home/ann/*', '!/home/ann/docs'], '/home/ann/docs/a', false, false],
  [['/home/ann/*', '!/home/ann/docs'], '/home/ann/music/a', false, true],
  [['.cache/', '!.cache/'], '/h/.cache/x', false, false],
  // ~ is $HOME at the start only
  [['~/.cache'], '/home/ann/.cache', true, true],
  [['~/.cache'], '/home/bob/.cache', true, false],
  [['!~/.cache/keep', '~/.cache/*', '!~/.cache/keep'], '/home/ann/.cache/keep', false, false],
  [['~'], '/home/ann', true, true],
  [['~$*'], '/docs/~$report.docx', false, true],
  [['~$*'], '/home/ann', true, false],
  // case-sensitive, escapes, comments, the root
  [['Cache/'], '/p/cache', true, false],
  [['\\#notes'], '/p/#notes', false, true],
  [['#notes'], '/p/#notes', false, false],
  [['\\!bang'], '/p/!bang', false, true],
  [['*'], '/', true, false],
  [[], '/anything', false, false],
  // the README sample
  [SAMPLE, '/home/ann/.config/chromium/SingletonLock', false, true],
  [SAMPLE, '/home/ann/.config/google-chrome/SingletonCookie', false, true],
  [SAMPLE, '/home/ann/.config/chromium/SingletonSocket', false, true],
  [SAMPLE, '/home/ann/.mozilla/firefox/x.default/lock', false, true],
  [SAMPLE, '/home/ann/.mozilla/firefox/x.default/.parentlock', false, true],
  [SAMPLE, '/home/ann/.mozilla/firefox/x.default/places.sqlite', false, false],
  [SAMPLE, '/home/ann/.cache/fontconfig/x', false, true],
  [SAMPLE, '/home/ann/.config/Code/Cache/data_0', false, true],
  [SAMPLE, '/home/ann/src/app/node_modules', true, true],
  [SAMPLE, '/home/ann/src/app/node_modules/x/package.json', false, true],
  [SAMPLE, '/home/ann/src/app/__pycache__/m.cpython-312.pyc', false, true],
  [SAMPLE, '/home/ann/src/c/main.o', false, true],
  [SAMPLE, '/home/ann/src/c/main.c', false, false],
  [SAMPLE, '/home/ann/src/py/m.pyc', false, true],
  [SAMPLE, '/home/ann/src/rust/target', true, true],
  [SAMPLE, '/home/ann/src/rust/target', false, false],
  [SAMPLE, '/home/ann/.thumbnails/normal/a.png', false, true],
  [SAMPLE, '/home/ann/.local/share/Trash/files/old.txt', false, true],
  [SAMPLE, '/root/.local/share/Trash', true, true],
  [SAMPLE, '/home/ann/Trash', true, false],
  [SAMPLE, '/media/ann/STICK/.Trash-1000', true, true],
  [SAMPLE, '/home/ann/a.tmp', false, true],
  [SAMPLE, '/home/ann/.notes.txt.swp', false, true],
  [SAMPLE, '/home/ann/notes.txt', false, false],
  [SAMPLE, '/home/ann/Documents', true, false],
];

test('exclusion table', () => {
  for (const [patterns, path, isDir, expected] of cases) {
    const ex = new Excluder(patterns, { home: HOME });
    assert.equal(ex.excluded(Buffer.from(path), isDir), expected, `${JSON.stringify(patterns)} ${path} dir=${isDir}`);
  }
});

test('the sample file has the documented patterns', () => {
  for (const p of ['SingletonLock', 'SingletonCookie', 'SingletonSocket', 'lock', '.parentlock', '.cache/', 'Cache/',
    'node_modules/', '__pycache__/', '*.o', '*.pyc', 'target/', '.thumbnails/', '**/.local/share/Trash/', '*.tmp', '*.swp']) {
    assert.ok(SAMPLE.includes(p), p);
  }
  assert.ok(SAMPLE.every((p) => !p.startsWith('#') && p.trim() !== ''));
});

test('non-UTF-8 bytes are decoded with replacement and matched by wildcards', () => {
  const name = Buffer.concat([Buffer.from('/data/caf'), Buffer.from([0xe9]), Buffer.from('.tmp')]);
  assert.equal(new Excluder(['*.tmp']).excluded(name, false), true);
  assert.equal(new Excluder(['/data/caf?.tmp']).excluded(name, false), true);
  assert.equal(new Excluder(['/data/café.tmp']).excluded(name, false), false);
  assert.equal(new Excluder(['/data/caf\ufffd.tmp']).excluded(name, false), true);
  const dir = Buffer.concat([Buffer.from('/data/'), Buffer.from([0xff, 0xfe]), Buffer.from('/x')]);
  assert.equal(new Excluder(['/data/*/']).excluded(dir, false), true);
});

test('patterns getter returns the patterns as given', () => {
  const ex = new Excluder(['~/.cache', '*.o'], { home: HOME });
  assert.deepEqual(ex.patterns, ['~/.cache', '*.o']);
  ex.patterns.push('x');
  assert.deepEqual(ex.patterns, ['~/.cache', '*.o']);
});

test('$HOME with glob characters stays literal', () => {
  const ex = new Excluder(['~/tmp'], { home: '/home/a[1]*/' });
  assert.equal(ex.excluded(Buffer.from('/home/a[1]*/tmp'), true), true);
  assert.equal(ex.excluded(Buffer.from('/home/a1x/tmp'), true), false);
});

test('readExcludeFile: comments, blanks, CRLF, trailing whitespace, BOM', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fb-exclude-'));
  try {
    const f = join(dir, 'ex.txt');
    writeFileSync(f, '\ufeff# comment\r\n*.o  \r\n\r\n   \n  # indented comment\n/home/ann/tmp/\t\nfoo\\ \n \tlead\n');
    assert.deepEqual(readExcludeFile(f), ['*.o', '/home/ann/tmp/', 'foo\\ ', ' \tlead']);
    assert.throws(() => readExcludeFile(join(dir, 'missing.txt')), (e: unknown) =>
      e instanceof FlashbackError && e.code === 'ERR_USAGE' && e.message.includes('missing.txt') && !!e.hint);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** The fast paths must give exactly the answers of the `ignore` package on the whole absolute path. */
test('differential: same answers as ignore() on random patterns and paths', () => {
  let seed = 12345;
  const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) % n;
  const pick = <T>(a: T[]) => a[rnd(a.length)];
  const names = ['a', 'b', 'a.o', 'x.log', 'node_modules', 'Cache', 'cache', 'keep.log', 'lock', 'target', 'a b'];
  const atoms = [...names, '*.o', '*.log', '*', 'a*', '?', '[ab]', '**', 'x.*', '*b', '.T*', 'ca?he', 'a*b', '\\#x'];
  const patterns = (): string[] =>
    Array.from({ length: 1 + rnd(5) }, () => {
      const depth = rnd(4);
      let p = Array.from({ length: depth + 1 }, () => pick(atoms)).join('/');
      if (rnd(4) === 0) p = '/' + p;
      if (rnd(3) === 0) p += '/';
      if (rnd(4) === 0) p = '!' + p;
      return p;
    });
  for (let round = 0; round < 300; round++) {
    const pats = patterns();
    const ex = new Excluder(pats, { home: HOME });
    const ig = ignore({ ignorecase: false }).add(pats);
    for (let k = 0; k < 60; k++) {
      const rel = Array.from({ length: 1 + rnd(5) }, () => pick(names)).join('/');
      const isDir = rnd(2) === 0;
      const want = ig.ignores(isDir ? rel + '/' : rel);
      assert.equal(ex.excluded(Buffer.from('/' + rel), isDir), want, `${JSON.stringify(pats)} /${rel} dir=${isDir}`);
    }
  }
});

test('performance: 100k paths x 50 patterns', () => {
  const pats = [...SAMPLE];
  for (let i = 0; pats.length < 50; i++) pats.push([`/home/ann/proj${i}/build`, `*.ext${i}`, `dir${i}/`][i % 3]);
  const paths: [Buffer, boolean][] = [];
  const dirs = ['src', 'lib', 'test', 'a/b/c', 'deep/er/and/deeper/still'];
  for (let i = 0; paths.length < 100_000; i++) {
    const d = `/home/ann/project${i % 50}/${dirs[i % dirs.length]}/sub${i % 300}`;
    paths.push([Buffer.from(d), true]);
    for (let j = 0; j < 9; j++) paths.push([Buffer.from(`${d}/file${i}_${j}.${['c', 'o', 'txt', 'js', 'pyc'][j % 5]}`), false]);
  }
  const ex = new Excluder(pats, { home: HOME });
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  let n = 0;
  for (const [p, d] of paths) if (ex.excluded(p, d)) n++;
  const cpu = process.cpuUsage(c0);
  const ms = (cpu.user + cpu.system) / 1000; // CPU time: other processes on the machine do not count
  console.log(`exclude: ${paths.length} paths x ${pats.length} patterns: ${ms.toFixed(0)} ms CPU, ` +
    `${(performance.now() - t0).toFixed(0)} ms wall (${n} excluded)`);
  assert.equal(n, 30_000);
  assert.ok(ms < 2000, `${ms} ms`);
});
