/** snapshots, ls, diff, find, cat */
import type { Command } from 'commander';
import type { Node } from '../../core/model/node.js';
import type { SnapshotRef } from '../../core/model/snapshot.js';
import { nodeToJson } from '../../core/model/tree.js';
import { diffTrees, globToRegExp, walkTree, type DiffStats } from '../../core/browse/walk.js';
import { resolvePath } from '../../core/restorer/plan.js';
import { filterSnapshots } from '../../core/repository/snapshots.js';
import { openRepository } from '../context.js';
import { localTime, nsToIso, table } from '../printer.js';
import { formatBytes } from '../progress.js';
import { collect, type Ctx } from '../main.js';
import { snapshotFilterOf, type FilterFlags } from './filters.js';
import { registerCat } from './cat.js';
import { splitSnapshotArg } from './restore.js';

export function snapshotJson(r: SnapshotRef): Record<string, unknown> {
  const s = r.snapshot;
  return { ...s, id: r.id, short_id: r.id.slice(0, 8), time: s.time, paths: s.paths, hostname: s.hostname, tags: s.tags, tree: s.tree };
}

export function nodeJson(path: string, n: Node): Record<string, unknown> {
  const j = nodeToJson(n);
  return { name: n.name.toString(), type: n.type, path, uid: n.uid, gid: n.gid, user: n.user, group: n.group, size: n.size, mode: n.mode, permissions: modeString(n), mtime: nsToIso(n.mtime), atime: nsToIso(n.atime), ctime: nsToIso(n.ctime), inode: j.inode, links: n.links, ...(n.linkTarget ? { linktarget: n.linkTarget.toString() } : {}), struct_type: 'node' };
}

const TYPE_CHAR: Record<string, string> = { file: '-', dir: 'd', symlink: 'l', fifo: 'p', chardev: 'c', blockdev: 'b', socket: 's' };

export function modeString(n: Node): string {
  const m = n.mode;
  const bits = 'rwxrwxrwx'.split('').map((ch, i) => ((m >> (8 - i)) & 1 ? ch : '-'));
  if (m & 0o4000) bits[2] = bits[2] === 'x' ? 's' : 'S';
  if (m & 0o2000) bits[5] = bits[5] === 'x' ? 's' : 'S';
  if (m & 0o1000) bits[8] = bits[8] === 'x' ? 't' : 'T';
  return TYPE_CHAR[n.type] + bits.join('');
}

function longLine(path: string, n: Node): string {
  const who = `${n.user || n.uid}/${n.group || n.gid}`;
  const t = localTime(nsToIso(n.mtime));
  return `${modeString(n)} ${who.padEnd(15)} ${String(n.size).padStart(12)} ${t} ${path}${n.linkTarget ? ` -> ${n.linkTarget.toString()}` : ''}`;
}

export function registerBrowse(program: Command, ctx: Ctx): void {
  program
    .command('snapshots')
    .description('list snapshots')
    .option('--host <host>', 'only snapshots of this host (repeatable)', collect, [])
    .option('--path <path>', 'only snapshots of this path (repeatable)', collect, [])
    .option('--tag <tags>', 'only snapshots with these tags (comma = and, repeat = or)', collect, [])
    .action(async (f: FilterFlags) => {
      const out = ctx.out();
      const repo = await openRepository(ctx.g(), out);
      const list = filterSnapshots(await repo.snapshots.list((file, err) => out.warn(`${file}: ${err.message}`)), snapshotFilterOf(f));
      if (out.json) return out.line(JSON.stringify(list.map(snapshotJson)));
      const rows = list.map((r) => [r.id.slice(0, 8), localTime(r.snapshot.time), r.snapshot.hostname, r.snapshot.tags.join(','), formatBytes(r.snapshot.summary?.total_bytes_processed ?? 0), r.snapshot.paths.join(', ')]);
      for (const l of table(rows, ['ID', 'Time', 'Host', 'Tags', 'Size', 'Paths'])) out.line(l);
      out.line(`${list.length} snapshot${list.length === 1 ? '' : 's'}`);
    });

  program
    .command('ls')
    .description('list the files of a snapshot (all of it, or a path and its direct children)')
    .argument('<snapshot>', 'snapshot id prefix, latest, latest~N')
    .argument('[path]', 'path inside the snapshot')
    .option('-l, --long', 'show permissions, owner, size and time')
    .option('-R, --recursive', 'list a given path recursively')
    .action(async (ref: string, path: string | undefined, f: { long?: boolean; recursive?: boolean }) => {
      const out = ctx.out();
      const repo = await openRepository(ctx.g(), out);
      await repo.loadIndex();
      const sn = await repo.snapshots.resolve(splitSnapshotArg(ref).ref);
      const base = path ? '/' + path.split('/').filter(Boolean).join('/') : '';
      const print = (p: string, n: Node) => (out.json ? out.jsonLine(nodeJson(p, n)) : out.line(f.long ? longLine(p, n) : p));
      if (out.json) out.jsonLine({ ...snapshotJson(sn), struct_type: 'snapshot' });
      const { node, tree } = await resolvePath(repo, sn.snapshot.tree, base || '/');
      if (node) print(base, node);
      if (node && node.type !== 'dir') return;
      const recursive = !path || !!f.recursive;
      const treeId = node ? node.subtree! : sn.snapshot.tree;
      void tree;
      for await (const it of walkTree(repo, treeId, base, () => recursive)) print(it.path, it.node);
    });

  program
    .command('diff')
    .description('show what changed between two snapshots (+ added, - removed, M content, T type, U metadata)')
    .argument('<snapshot1>')
    .argument('<snapshot2>')
    .option('--metadata', 'also list entries whose metadata alone changed')
    .action(async (a: string, b: string, f: { metadata?: boolean }) => {
      const out = ctx.out();
      const repo = await openRepository(ctx.g(), out);
      await repo.loadIndex();
      const s1 = await repo.snapshots.resolve(a);
      const s2 = await repo.snapshots.resolve(b);
      if (!out.json) out.info(`comparing snapshot ${s1.id.slice(0, 8)} to ${s2.id.slice(0, 8)}:\n`);
      const stats: DiffStats = { added: 0, removed: 0, changed: 0, addedBytes: 0, removedBytes: 0 };
      for await (const d of diffTrees(repo, s1.snapshot.tree, s2.snapshot.tree, '', stats)) {
        if (d.change === 'U' && !f.metadata) continue;
        const p = d.path + (d.node.type === 'dir' ? '/' : '');
        if (out.json) out.jsonLine({ message_type: 'change', path: p, modifier: d.change });
        else out.line(`${d.change}    ${p}`);
      }
      if (out.json) out.jsonLine({ message_type: 'statistics', source_snapshot: s1.id, target_snapshot: s2.id, added: stats.added, removed: stats.removed, changed: stats.changed, added_bytes: stats.addedBytes, removed_bytes: stats.removedBytes });
      else out.info(`\nAdded:    ${stats.added} entries (${formatBytes(stats.addedBytes)})\nRemoved:  ${stats.removed} entries (${formatBytes(stats.removedBytes)})\nChanged:  ${stats.changed} entries`);
    });

  program
    .command('find')
    .description('find files by name or path glob in all snapshots, and show their versions')
    .argument('<pattern...>', 'glob on the file name (*.doc), or on the whole path if it contains a / (/home/*/notes.txt, **/x)')
    .option('-i, --ignore-case', 'case-insensitive match')
    .option('--host <host>', 'only snapshots of this host', collect, [])
    .option('--path <path>', 'only snapshots of this path', collect, [])
    .option('--tag <tag>', 'only snapshots with this tag', collect, [])
    .action(async (patterns: string[], f: FilterFlags & { ignoreCase?: boolean }) => {
      const out = ctx.out();
      const repo = await openRepository(ctx.g(), out);
      await repo.loadIndex();
      const res = patterns.map((p) => ({ re: globToRegExp(p, f.ignoreCase), onPath: p.includes('/') }));
      const hits = new Map<string, { snapshot: SnapshotRef; node: Node }[]>();
      for (const sn of filterSnapshots(await repo.snapshots.list(() => undefined), snapshotFilterOf(f))) {
        for await (const it of walkTree(repo, sn.snapshot.tree)) {
          if (!res.some((r) => r.re.test(r.onPath ? it.path : it.node.name.toString()))) continue;
          let l = hits.get(it.path);
          if (!l) hits.set(it.path, (l = []));
          l.push({ snapshot: sn, node: it.node });
        }
      }
      const results = [...hits].sort(([a], [b]) => a.localeCompare(b)).map(([path, list]) => {
        let version = 0;
        let last = '';
        const versions = list.map(({ snapshot, node }) => {
          const key = `${node.type}:${node.size}:${(node.content ?? []).join()}:${node.linkTarget?.toString('hex') ?? ''}`;
          if (key !== last) version++;
          last = key;
          return { snapshot: snapshot.id, time: snapshot.snapshot.time, version, type: node.type, size: node.size, mtime: nsToIso(node.mtime) };
        });
        return { path, versions };
      });
      if (out.json) return out.line(JSON.stringify(results));
      for (const r of results) {
        out.line(r.path);
        let prev = 0;
        for (const v of r.versions) {
          out.line(`  ${v.snapshot.slice(0, 8)}  ${localTime(v.time)}  ${v.version === prev ? 'unchanged     ' : `version ${String(v.version).padEnd(6)}`}  ${v.type === 'file' ? formatBytes(v.size).padStart(10) : v.type.padStart(10)}  modified ${localTime(v.mtime)}`);
          prev = v.version;
        }
      }
      out.info(`${results.length} path(s) matched in ${new Set(results.flatMap((r) => r.versions.map((v) => v.snapshot))).size} snapshot(s)`);
    });

  registerCat(program, ctx);
}
