/** cat config|key|snapshot|index|pack|tree|blob ID: the decrypted structures, for debugging. Never prints a secret. */
import type { Command } from 'commander';
import { INDEX_AAD, decodeIndex, openFile } from '../../core/pack/format.js';
import { LocalBackend } from '../../core/backend/local.js';
import { Repository } from '../../core/repository/repository.js';
import { nodeToJson } from '../../core/model/tree.js';
import { openRepository, repoLocation } from '../context.js';
import { UsageError } from '../exit.js';
import type { Ctx } from '../main.js';

async function uniquePrefix(list: AsyncIterable<{ name: string }>, prefix: string, what: string): Promise<string> {
  const hits: string[] = [];
  for await (const f of list) if (f.name.startsWith(prefix)) hits.push(f.name);
  if (hits.length !== 1) throw new UsageError(hits.length ? `${what} prefix ${prefix} is ambiguous` : `no ${what} ${prefix}`);
  return hits[0];
}

export function registerCat(program: Command, ctx: Ctx): void {
  program
    .command('cat')
    .description('print repository structures: config, key ID, snapshot ID, index ID, pack ID, tree ID, blob ID')
    .argument('<type>')
    .argument('[id]')
    .action(async (type: string, id: string | undefined) => {
      const out = ctx.out();
      if (type === 'config') {
        const c = await Repository.readConfig(new LocalBackend(repoLocation(ctx.g())));
        return out.line(JSON.stringify(c, null, 2));
      }
      if (!id) throw new UsageError(`cat ${type} needs an id`);
      const repo = await openRepository(ctx.g(), out);
      const b = repo.backend;
      switch (type) {
        case 'key': {
          const name = await uniquePrefix(b.list('keys'), id, 'key');
          return out.line((await b.load('keys', name)).toString().trimEnd());
        }
        case 'snapshot': {
          const sn = await repo.snapshots.resolve(id);
          return out.line(JSON.stringify({ id: sn.id, ...sn.snapshot }, null, 2));
        }
        case 'index': {
          const name = await uniquePrefix(b.list('index'), id, 'index file');
          const { packs, superseded } = decodeIndex(openFile(repo.keys.encKey, INDEX_AAD, await b.load('index', name), `index/${name}`));
          return out.line(JSON.stringify({ packs: packs.map((p) => ({ id: p.packId, blobs: p.entries.map(entryJson) })), superseded }, null, 2));
        }
        case 'pack': {
          const name = await uniquePrefix(b.list('data'), id, 'pack');
          return out.line(JSON.stringify({ id: name, blobs: (await repo.readPackHeader(name)).map(entryJson) }, null, 2));
        }
        case 'tree': {
          await repo.loadIndex();
          return out.line(JSON.stringify({ nodes: (await repo.loadTree(id)).map(nodeToJson) }, null, 2));
        }
        case 'blob': {
          await repo.loadIndex();
          process.stdout.write(await repo.loadBlob(id));
          return;
        }
        default:
          throw new UsageError(`unknown type "${type}"`, 'use one of: config, key, snapshot, index, pack, tree, blob');
      }
    });
}

function entryJson(e: { type: number; compression: number; id: Buffer; offset: number; length: number; rawLength: number }) {
  return { type: e.type === 1 ? 'tree' : 'data', id: e.id.toString('hex'), offset: e.offset, length: e.length, uncompressed_length: e.rawLength, compression: e.compression ? 'zstd' : 'none' };
}
