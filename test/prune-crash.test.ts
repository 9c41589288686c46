/**
 * prune killed with SIGKILL at many points (after the k-th file event in the repository, k spread over a whole
 * run): every time the repository checks clean, every kept snapshot restores byte-identical, and a rerun
 * finishes the job. FLASHBACK_TEST_PRUNE_ROUNDS raises the number of rounds (default 6).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { rmSync, watch } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { spawnCli } from './helpers/cli.js';
import { assertRestores, forgetFile, generations } from './helpers/generations.js';
import type { TestRepo } from './helpers/repo.js';

async function pruneKilledAfter(r: TestRepo, k: number): Promise<{ events: number; killed: boolean; code: number | null }> {
  let events = 0;
  const child = spawnCli(['prune', '--max-unused', '0%'], { env: r.env });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  // the writes into a pack under data/tmp/ (one event per 1 MiB) are not counted: the kill points stay spread
  // over the steps a reader can see (packs named, index files written, files deleted), not bunched in the writes
  const w = watch(r.repo, { recursive: true }, (_event, file) => {
    if (file && String(file).startsWith(join('data', 'tmp'))) return;
    if (++events === k) child.kill('SIGKILL');
  });
  const [code, signal] = await new Promise<[number | null, string | null]>((res) => child.once('exit', (c, s) => res([c, s])));
  w.close();
  if (signal !== 'SIGKILL') assert.equal(code, 0, stderr);
  return { events, killed: signal === 'SIGKILL', code };
}

test('prune under kill -9 at many points: checks clean, kept snapshots restore byte-identical, a rerun finishes', async (t) => {
  const g = await generations(t);
  const { r, ids } = g;
  forgetFile(r, ids[0]);
  const template = join(r.dir, 'template');
  execFileSync('cp', ['-a', r.repo, template]);
  const reset = () => {
    rmSync(r.repo, { recursive: true, force: true });
    execFileSync('cp', ['-a', template, r.repo]);
  };
  reset();
  const reference = await pruneKilledAfter(r, Infinity);
  assert.ok(reference.events > 10, `a prune makes many file events (${reference.events})`);
  const rounds = Number(process.env.FLASHBACK_TEST_PRUNE_ROUNDS ?? 6);
  let killed = 0;
  const missed: number[] = [];
  for (let i = 0; i < rounds; i++) {
    reset();
    const k = 1 + Math.floor(((i + 0.5) * reference.events) / rounds);
    const run = await pruneKilledAfter(r, k);
    if (run.killed) killed++;
    else missed.push(k);
    const what = `killed after file event ${k} of ${reference.events}`;
    const c = await r.run(['check', '--read-data']);
    assert.equal(c.code, 0, `${what}: ${c.stdout}${c.stderr}`);
    await assertRestores(g, ids.slice(1), what);
    const again = await r.run(['prune', '--max-unused', '0%']);
    assert.equal(again.code, 0, `${what}: rerun: ${again.stderr}`);
    const left = JSON.parse((await r.run(['--json', 'prune', '--dry-run', '--max-unused', '0%'])).stdout.trim());
    assert.deepEqual([left.packs.delete, left.packs.repack, left.packs.orphans], [0, 0, 0], `${what}: the rerun finished the job`);
    const c2 = await r.run(['check', '--read-data']);
    assert.equal(c2.code, 0, `${what}: after the rerun: ${c2.stdout}${c2.stderr}`);
  }
  assert.ok(killed >= Math.ceil(rounds * 0.75), `the kills landed during the prune (${killed} of ${rounds}; too late after event ${missed.join(', ')} of ${reference.events})`);
  await assertRestores(g, ids.slice(1), 'at the end');
});
