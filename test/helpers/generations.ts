/** A repository with three snapshots whose forgetting leaves wholly unused and partly used packs (prune tests). */
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { makeRepo, type TestRepo } from './repo.js';
import { prng } from './fixtures.js';
import { compareTrees } from './tree.js';

/** every file of the repository with its size: what a dry run must leave untouched */
export function listing(dir: string, base = dir): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...listing(p, base));
    else if (!p.includes('/locks/')) out.push(`${p.slice(base.length)} ${statSync(p).size}`);
  }
  return out.sort();
}

export function repoBytes(dir: string): number {
  return listing(dir).reduce((n, l) => n + Number(l.split(' ').pop()), 0);
}

export interface Generations {
  r: TestRepo;
  src: string;
  /** copies of the source as each snapshot saw it, by snapshot id */
  saw: Map<string, string>;
  ids: string[];
}

/**
 * Three snapshots over small files in 256 KiB packs: generation 1 has 120 files; generation 2 drops the first
 * 40 (whole packs become unused) and every third of the rest (packs become partly used) and adds 30.
 */
export async function generations(t: TestContext): Promise<Generations> {
  const r = await makeRepo(false);
  t.after(() => r.cleanup());
  assert.equal((await r.run(['init', '--pack-size', '256K'])).code, 0);
  const src = join(r.dir, 'src');
  mkdirSync(src);
  const saw = new Map<string, string>();
  const ids: string[] = [];
  const snap = async (tag: string) => {
    const b = await r.run(['--json', 'backup', src, '--tag', tag]);
    assert.equal(b.code, 0, b.stderr);
    const id = JSON.parse(b.stdout.trim().split('\n').pop()!).snapshot_id as string;
    const copy = join(r.dir, `saw-${tag}`);
    execFileSync('cp', ['-a', src, copy]); // (cpSync keeps only millisecond times)
    saw.set(id, copy);
    ids.push(id);
  };
  for (let i = 0; i < 120; i++) writeFileSync(join(src, `f${String(i).padStart(3, '0')}`), prng(`g1-${i}`, 20_000 + i * 97));
  await snap('g1');
  for (let i = 0; i < 120; i++) if (i < 40 || i % 3 === 0) rmSync(join(src, `f${String(i).padStart(3, '0')}`));
  for (let i = 0; i < 30; i++) writeFileSync(join(src, `n${i}`), prng(`g2-${i}`, 15_000 + i * 31));
  await snap('g2');
  writeFileSync(join(src, 'late'), prng('g3', 50_000));
  await snap('g3');
  return { r, src, saw, ids };
}

export async function assertRestores(g: Generations, ids: string[], what: string): Promise<void> {
  for (const id of ids) {
    const out = join(g.r.dir, `out-${id.slice(0, 8)}-${Math.random().toString(36).slice(2)}`);
    const res = await g.r.run(['restore', `${id}:${g.src}`, '--target', out]);
    assert.equal(res.code, 0, `${what}: restore ${id.slice(0, 8)}: ${res.stderr}`);
    assert.deepEqual(compareTrees(g.saw.get(id)!, out, { times: true }), [], `${what}: snapshot ${id.slice(0, 8)} restores byte-identical`);
    rmSync(out, { recursive: true, force: true });
  }
}

export function forgetFile(r: TestRepo, id: string): void {
  rmSync(join(r.repo, 'snapshots', id));
}

