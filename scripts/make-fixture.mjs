#!/usr/bin/env node
// Creates test/fixtures/repo-vN: a small repository of the current format version N, committed so that tests
// catch any change that would make old repositories unreadable. Run once per format version, with the code of
// that version; never regenerate an old one (repo-v1 was made by the version 1 code).
// Usage: node scripts/make-fixture.mjs VERSION [OUTDIR]
import { mkdirSync, writeFileSync, symlinkSync, rmSync, utimesSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { execFileSync } from 'node:child_process';

const version = process.argv[2];
if (!/^[0-9]+$/.test(version ?? '')) throw new Error('usage: node scripts/make-fixture.mjs VERSION [OUTDIR]');
const out = resolve(process.argv[3] ?? `test/fixtures/repo-v${version}`);
const work = resolve('.fixture-src');
rmSync(work, { recursive: true, force: true });
rmSync(out, { recursive: true, force: true });
const src = join(work, 'home');
mkdirSync(join(src, 'docs'), { recursive: true });
writeFileSync(join(src, 'docs', 'readme.txt'), `Flashback fixture repository, format version ${version}.\n`);
writeFileSync(join(src, 'docs', 'numbers.txt'), Array.from({ length: 20000 }, (_, i) => `${i}\n`).join(''));
writeFileSync(join(src, 'empty'), '');
symlinkSync('docs/readme.txt', join(src, 'link'));
const t = new Date('2020-02-02T02:02:02Z');
for (const p of ['docs/readme.txt', 'docs/numbers.txt', 'empty', 'docs', '.']) utimesSync(join(src, p), t, t);
const env = { ...process.env, FLASHBACK_REPOSITORY: out, FLASHBACK_PASSWORD: 'fixture', FLASHBACK_TEST_KDF_N: '1024' };
const cli = (args) => execFileSync(process.execPath, ['bin/flashback', ...args], { env, stdio: 'inherit' });
cli(['init']);
cli(['backup', '--host', 'fixture', '--tag', `v${version}`, src]);
rmSync(work, { recursive: true, force: true });
console.log(`fixture written to ${out}; source was ${src}`);
