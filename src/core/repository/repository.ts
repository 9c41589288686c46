/**
 * The repository: the only user of backend + crypto + pack + index. Opening unlocks a key slot, verifies the
 * config and derives the keys; blobs are read through the index and verified twice (AEAD tag, keyed id).
 */
import { randomBytes } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import type { Backend } from '../backend/backend.js';
import { blobId, deriveKeys, seal, sha256, type BlobIdFunction, type BlobIdKey, type RepoKeys, type ScryptParams } from '../crypto/crypto.js';
import { compress } from '../crypto/compress.js';
import { DamageError, FlashbackError } from '../errors/errors.js';
import { BlobIndex, type BlobLocation } from '../index/blob-index.js';
import { DEFAULT_CHUNKER, DEFAULT_PACK_SIZE, REPO_VERSION, parseConfig, signConfig, verifyConfig, type ChunkerConfig, type Config } from '../model/config.js';
import { DEFAULT_KDF, makeKeySlot, openKeySlot, parseKeySlot, type KeySlot, type Secrets } from '../model/keyslot.js';
import { decodeTree } from '../model/tree.js';
import type { Node } from '../model/node.js';
import { encodeEntries, ENTRY_BYTES, INDEX_AAD, indexEntryCount, indexPackNumbers, indexSuperseded, openFile, parsePackHeader, scanIndex, type PackEntry } from '../pack/format.js';
import { SnapshotStore } from './snapshots.js';
import { blobAad } from './blob-aad.js';
import { decodeBlob } from './blob-codec.js';
import { compareStrings } from '../util/compare.js';

export interface InitOptions {
  kdf?: ScryptParams;
  chunker?: ChunkerConfig;
  packSize?: number;
  compressionLevel?: number;
  /** share the family secret (chunker and blob ids) of this already-open repository */
  familyOf?: Repository;
  /** the blob id function of a new family (BLAKE3 by default); a family member takes its family's */
  blobId?: BlobIdFunction;
  label?: string;
}

export interface KeyInfo {
  id: string;
  current: boolean;
  created: string;
  hostname: string;
  username: string;
  label: string;
  kdf: string;
}


/**
 * Decoded trees kept. 2,048 held ≈ 45 MB of the main thread's heap at a Linux 6.12 restore's peak (heapTotal
 * 133 → 87 MiB, peak RSS 362 → 309 MB) and made it slower (more to collect); a restore, a check or a backup
 * reads almost every tree once, so only browsing (ls, find, the web UI) gains from the cache.
 */
const TREE_CACHE = 256;

export class Repository {
  readonly index = new BlobIndex();
  /** index files loaded into `index` */
  readonly indexFiles = new Set<string>();
  /** index files that still exist but are superseded by others (left by an interrupted prune) */
  readonly supersededFiles = new Set<string>();
  readonly snapshots: SnapshotStore;
  private indexLoaded = false;
  /** decoded trees, first in first out (walks read most trees once; browsing goes back and forth) */
  private treeCache = new Map<string, Node[]>();
  private treePacks = new Map<string, Promise<Buffer>>();

  private constructor(
    readonly backend: Backend,
    readonly config: Config,
    readonly keys: RepoKeys,
    readonly keyId: string,
  ) {
    this.snapshots = new SnapshotStore(backend, keys, config);
  }

  get location(): string {
    return this.backend.location;
  }

  static async init(backend: Backend, passphrase: string, opts: InitOptions = {}): Promise<Repository> {
    if (await backend.hasConfig()) {
      throw new FlashbackError('ERR_REPOSITORY_EXISTS', `a repository already exists at ${backend.location}`, {
        hint: 'use it as it is, or choose an empty directory',
      });
    }
    const secrets: Secrets = {
      repository: randomBytes(32).toString('hex'),
      masterKey: randomBytes(32),
      familySecret: opts.familyOf ? opts.familyOf.keys.familySecret : randomBytes(32),
    };
    const keys = deriveKeys(secrets.masterKey, secrets.familySecret);
    const base = opts.familyOf?.config;
    const config: Config = {
      flashback: 'repository',
      version: REPO_VERSION,
      id: secrets.repository,
      family: keys.family,
      created: new Date().toISOString(),
      // a family must cut identical chunks: the chunker parameters are inherited with the secret
      chunker: base ? base.chunker : (opts.chunker ?? DEFAULT_CHUNKER),
      packSize: opts.packSize ?? base?.packSize ?? DEFAULT_PACK_SIZE,
      compression: { algorithm: 'zstd', level: opts.compressionLevel ?? base?.compression.level ?? 3 },
      // a family must name blobs alike (copy keeps ids): a version 1 family goes on with HMAC-SHA256
      blobId: base ? base.blobId : (opts.blobId ?? 'blake3'),
    };
    await backend.create();
    const slot = await makeKeySlot(passphrase, secrets, slotMeta(opts.label ?? ''), opts.kdf ?? DEFAULT_KDF);
    const keyId = sha256(slot).toString('hex');
    await backend.save('keys', keyId, slot);
    await backend.save('config', 'config', signConfig(config, keys.configKey));
    return new Repository(backend, config, keys, keyId);
  }

  static async readConfig(backend: Backend): Promise<Config> {
    if (!(await backend.hasConfig())) {
      throw new FlashbackError('ERR_NO_REPOSITORY', `there is no repository at ${backend.location}`, {
        hint: 'check the path (-r or FLASHBACK_REPOSITORY), or create one with "flashback init"',
      });
    }
    return parseConfig(await backend.load('config', 'config'), backend.location);
  }

  static async open(backend: Backend, passphrase: string): Promise<Repository> {
    const config = await Repository.readConfig(backend);
    const slots: { id: string; slot: KeySlot }[] = [];
    let damaged = 0;
    for await (const f of backend.list('keys')) {
      try {
        slots.push({ id: f.name, slot: parseKeySlot(await backend.load('keys', f.name), f.name) });
      } catch {
        damaged++;
      }
    }
    if (slots.length === 0) {
      throw new FlashbackError('ERR_DAMAGED', `${backend.location} has no readable key slot${damaged ? ` (${damaged} damaged)` : ''}`, {
        hint: 'the keys directory is damaged or empty; the repository cannot be unlocked',
      });
    }
    for (const { id, slot } of slots) {
      const secrets = await openKeySlot(slot, passphrase);
      if (!secrets) continue;
      const keys = deriveKeys(secrets.masterKey, secrets.familySecret);
      verifyConfig(config, keys.configKey, secrets.repository, backend.location);
      return new Repository(backend, config, keys, id);
    }
    throw new FlashbackError('ERR_WRONG_PASSWORD', 'wrong passphrase: no key slot of this repository opens with it', {
      hint: 'check FLASHBACK_PASSWORD / FLASHBACK_PASSWORD_FILE / --password-command, or try another passphrase',
    });
  }

  // ---------------------------------------------------------------- keys
  async listKeys(): Promise<KeyInfo[]> {
    const out: KeyInfo[] = [];
    for await (const f of this.backend.list('keys')) {
      const s = parseKeySlot(await this.backend.load('keys', f.name), f.name);
      out.push({ id: f.name, current: f.name === this.keyId, created: s.created, hostname: s.hostname, username: s.username, label: s.label, kdf: `scrypt N=${s.n} r=${s.r} p=${s.p}` });
    }
    return out.sort((a, b) => compareStrings(a.created, b.created));
  }

  async addKey(passphrase: string, label = '', kdf: ScryptParams = DEFAULT_KDF): Promise<string> {
    const secrets: Secrets = { repository: this.config.id, masterKey: this.keys.masterKey, familySecret: this.keys.familySecret };
    const slot = await makeKeySlot(passphrase, secrets, slotMeta(label), kdf);
    const id = sha256(slot).toString('hex');
    await this.backend.save('keys', id, slot);
    return id;
  }

  async removeKey(id: string): Promise<void> {
    const keys = await this.listKeys();
    const matches = keys.filter((k) => k.id.startsWith(id));
    if (matches.length !== 1) {
      throw new FlashbackError('ERR_NOT_FOUND', matches.length ? `key id prefix ${id} is ambiguous` : `no key ${id}`, { hint: 'see "flashback key list"' });
    }
    if (matches[0].current) {
      throw new FlashbackError('ERR_INVALID', 'refusing to remove the key slot in use', { hint: 'open the repository with another passphrase to remove this one' });
    }
    await this.backend.remove('keys', matches[0].id);
  }

  // ---------------------------------------------------------------- index
  async loadIndex(onDamage?: (file: string, err: Error) => void): Promise<void> {
    if (this.indexLoaded) return;
    const superseded = new Set<string>();
    const bodies: { name: string; body: Buffer }[] = [];
    for await (const f of this.backend.list('index')) {
      try {
        const bytes = await this.backend.load('index', f.name);
        if (sha256(bytes).toString('hex') !== f.name) throw new Error('content does not match its name (damaged or truncated)');
        const body = openFile(this.keys.encKey, INDEX_AAD, bytes, `index/${f.name}`);
        for (const s of indexSuperseded(body)) superseded.add(s);
        bodies.push({ name: f.name, body });
      } catch (err) {
        this.indexDamage(f.name, err, onDamage);
      }
    }
    const packNumber = (id: string) => this.index.packNumber(id);

    // sized once for every entry listed, rather than doubling (and rehashing) its way there
    this.index.reserve(bodies.reduce((n, { name, body }) => n + (superseded.has(name) ? 0 : indexEntryCount(body)), 0));
    for (const { name, body } of bodies) {
      if (superseded.has(name)) {
        this.supersededFiles.add(name);
        continue;
      }
      try {
        this.index.addBody(body, indexPackNumbers(body, packNumber));
        this.indexFiles.add(name);
      } catch (err) {
        this.indexDamage(name, err, onDamage);
      }
    }
    this.indexLoaded = true;
  }

  /**
   * Other locations of blobs, outside the given packs: the in-memory index keeps one location per blob, but an
   * index file may list a second copy (left by concurrent or interrupted backups). Rereads the index files.
   */
  async findBlobCopies(ids: Set<string>, notIn: Set<string>): Promise<Map<string, { packId: string; entry: PackEntry }>> {
    const found = new Map<string, { packId: string; entry: PackEntry }>();
    if (ids.size === 0) return found;
    for (const name of this.indexFiles) {
      const body = openFile(this.keys.encKey, INDEX_AAD, await this.backend.load('index', name), `index/${name}`);
      let packId = '';
      scanIndex(
        body,
        (id) => ((packId = id), 0),
        (buf, at, loc) => {
          const hex = buf.toString('hex', at, at + 32);
          if (!ids.has(hex) || notIn.has(packId) || found.has(hex)) return;
          found.set(hex, { packId, entry: { id: Buffer.from(hex, 'hex'), type: loc.type, compression: loc.compression, offset: loc.offset, length: loc.length, rawLength: loc.rawLength } });
        },
      );
    }
    return found;
  }

  private indexDamage(name: string, err: unknown, onDamage?: (file: string, err: Error) => void): void {
    const e = err instanceof Error ? err : new Error(String(err));
    if (!onDamage) throw new DamageError(`index/${name}`, e.message, { cause: err });
    onDamage(`index/${name}`, e);
  }

  /** The same for entries in encodeEntries' form (a pack just written). */
  addPackRecordsToIndex(packId: string, records: Buffer): void {
    const pack = this.index.packNumber(packId);
    for (let at = 0; at + ENTRY_BYTES <= records.length; at += ENTRY_BYTES) {
      const type = records[at] as 0 | 1;
      const compression = records[at + 1] as 0 | 1;
      const loc = { pack, offset: records.readUInt32LE(at + 34), length: records.readUInt32LE(at + 38), rawLength: records.readUInt32LE(at + 42), type, compression };
      this.index.addAt(records, at + 2, loc);
    }
  }

  addPackToIndex(packId: string, entries: PackEntry[]): void {
    this.addPackRecordsToIndex(packId, encodeEntries(entries));
  }

  /** Reads a pack's header from its tail (design.md §8). */
  async readPackHeader(packId: string, size?: number): Promise<PackEntry[]> {
    const packSize = size ?? (await this.backend.stat('data', packId)).size;
    let want = Math.min(packSize, 64 * 1024);
    for (;;) {
      const tail = await this.backend.load('data', packId, { offset: packSize - want, length: want });
      const r = parsePackHeader(this.keys.encKey, tail, packSize, packId);
      if ('entries' in r) return r.entries;
      want = r.need;
    }
  }

  // ---------------------------------------------------------------- blobs
  /** the repository's blob id function with the family's id key */
  get idKey(): BlobIdKey {
    return { fn: this.config.blobId, key: this.keys.idKey };
  }

  blobId(plain: Uint8Array): Buffer {
    return blobId(this.idKey, plain);
  }

  /** compress + seal a blob (main-thread path, used for trees) */
  sealBlob(type: 0 | 1, plain: Buffer): { id: Buffer; sealed: Buffer; compression: 0 | 1; rawLength: number } {
    const id = this.blobId(plain);
    const c = compress(plain, this.config.compression.level);
    return { id, sealed: seal(this.keys.encKey, blobAad(type, id), c.bytes), compression: c.compression, rawLength: plain.length };
  }

  /** open + decompress + verify a sealed blob; throws DamageError naming the pack and blob */
  openBlob(sealed: Uint8Array, loc: BlobLocation, id: Uint8Array, packId: string): Buffer {
    return decodeBlob(this.keys.encKey, this.idKey, sealed, loc, id, packId);
  }

  lookup(idHex: string): { loc: BlobLocation; packId: string } | undefined {
    const loc = this.index.get(Buffer.from(idHex, 'hex'));
    return loc ? { loc, packId: this.index.packId(loc.pack) } : undefined;
  }

  async loadBlob(idHex: string): Promise<Buffer> {
    const found = this.lookup(idHex);
    if (!found) {
      throw new FlashbackError('ERR_DAMAGED', `blob ${idHex} is not in the index (lost data)`, { hint: 'run "flashback check" to see what is affected' });
    }
    const { loc, packId } = found;
    const sealed = await this.backend.load('data', packId, { offset: loc.offset, length: loc.length });
    if (sealed.length !== loc.length) throw new DamageError(`data/${packId.slice(0, 2)}/${packId}`, `truncated: blob ${idHex} is cut off`, { blob: idHex });
    return this.openBlob(sealed, loc, Buffer.from(idHex, 'hex'), packId);
  }

  /**
   * Tree packs are small and a walk reads many trees from each: the whole pack is read once and kept
   * (a few of them), instead of one open and read per tree.
   */
  private async loadTreeBlob(idHex: string): Promise<Buffer> {
    const found = this.lookup(idHex);
    if (!found || found.loc.type !== 1) return this.loadBlob(idHex);
    const { loc, packId } = found;
    let pack = this.treePacks.get(packId);
    if (!pack) {
      pack = this.backend.load('data', packId);
      pack.catch(() => this.treePacks.delete(packId));
      if (this.treePacks.size >= 4) this.treePacks.delete(this.treePacks.keys().next().value as string);
      this.treePacks.set(packId, pack);
    }
    const bytes = await pack;
    if (loc.offset + loc.length > bytes.length) {
      throw new DamageError(`data/${packId.slice(0, 2)}/${packId}`, `truncated: blob ${idHex} is cut off`, { blob: idHex });
    }
    return this.openBlob(bytes.subarray(loc.offset, loc.offset + loc.length), loc, Buffer.from(idHex, 'hex'), packId);
  }

  async loadTree(idHex: string): Promise<Node[]> {
    const cached = this.treeCache.get(idHex);
    if (cached) return cached;
    const nodes = decodeTree(await this.loadTreeBlob(idHex), `tree ${idHex}`);
    if (this.treeCache.size >= TREE_CACHE) this.treeCache.delete(this.treeCache.keys().next().value as string);
    this.treeCache.set(idHex, nodes);
    return nodes;
  }
}

function slotMeta(label: string): { hostname: string; username: string; label: string; created: string } {
  let username = '';
  try {
    username = userInfo().username;
  } catch {
    /* no passwd entry */
  }
  return { hostname: hostname(), username, label, created: new Date().toISOString() };
}
