/**
 * Golden vectors: they freeze the repository format (docs/design.md). If one fails, the code no longer reads or
 * writes format versions 1 and 2 as documented: fix the code, or bump the version and keep the old ones readable.
 * Version 2 differs from 1 in the config's `blobId` only: BLAKE3 keyed blob ids in new families.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { blobId, deriveKeys, hmac, seal, open, sha256 } from '../src/core/crypto/crypto.js';
import { parsePackHeader, encodeIndex, decodeIndex, sealFile, openFile, INDEX_AAD, encodeEntries, encodeIndexPack, encodeIndexRecords } from '../src/core/pack/format.js';
import { encodeTree, decodeTree } from '../src/core/model/tree.js';
import type { Node } from '../src/core/model/node.js';
import { blobAad } from '../src/core/repository/blob-aad.js';
import { runCli } from './helpers/cli.js';
import { parseConfig, signConfig, verifyConfig } from '../src/core/model/config.js';
import { checkFamily } from '../src/core/copy/plan.js';

const keys = deriveKeys(Buffer.alloc(32, 0x11), Buffer.alloc(32, 0x22));

test('key derivation and keyed blob ids', () => {
  assert.equal(keys.encKey.toString('hex'), GOLDEN.encKey);
  assert.equal(keys.idKey.toString('hex'), GOLDEN.idKey);
  assert.equal(keys.chunkerKey.toString('hex'), GOLDEN.chunkerKey);
  assert.equal(keys.family, GOLDEN.family);
  assert.equal(hmac(keys.idKey, Buffer.from('hello')).toString('hex'), GOLDEN.helloId);
  assert.equal(blobId({ fn: 'hmac-sha256', key: keys.idKey }, Buffer.from('hello')).toString('hex'), GOLDEN.helloId);
  assert.equal(blobId({ fn: 'blake3', key: keys.idKey }, Buffer.from('hello')).toString('hex'), GOLDEN.helloBlake3);
});

test('BLAKE3 blob ids are the keyed_hash of the official BLAKE3 test vectors', () => {
  // BLAKE3-team/BLAKE3 test_vectors/test_vectors.json: input bytes i mod 251, key "whats the Elvish word for friend";
  // the first 32 bytes of each extended output. Lengths cross the 1 KiB chunk and the parallel (SIMD) paths.
  const key = Buffer.from('whats the Elvish word for friend');
  const input = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => i % 251));
  for (const [n, hex] of BLAKE3_KEYED) {
    assert.equal(blobId({ fn: 'blake3', key }, input(n)).toString('hex'), hex, `input_len ${n}`);
    // the thread's hasher is reused across keys and calls
    assert.equal(blobId({ fn: 'blake3', key: keys.idKey }, Buffer.from('hello')).toString('hex'), GOLDEN.helloBlake3);
  }
});

test('a sealed value is nonce ‖ ciphertext ‖ tag and opens only with the right key and AAD', () => {
  const s = seal(keys.encKey, Buffer.from('aad'), Buffer.from('plaintext'));
  assert.equal(s.length, 12 + 9 + 16);
  assert.equal(open(keys.encKey, Buffer.from('aad'), s)?.toString(), 'plaintext');
  assert.equal(open(keys.encKey, Buffer.from('other'), s), undefined);
  const bad = Buffer.from(s);
  bad[15] ^= 1;
  assert.equal(open(keys.encKey, Buffer.from('aad'), bad), undefined);
});

test('a committed pack (format v1) parses and its blobs open', () => {
  const pack = Buffer.from(GOLDEN.pack, 'hex');
  assert.equal(sha256(pack).toString('hex'), GOLDEN.packId);
  const h = parsePackHeader(keys.encKey, pack, pack.length, 'golden');
  assert.ok('entries' in h);
  const [a, b] = h.entries;
  assert.deepEqual([a.type, a.compression, a.offset, a.length, a.rawLength], [0, 0, 0, 5 + 28, 5]);
  assert.deepEqual([b.type, b.compression, b.offset], [1, 1, 33]);
  assert.equal(open(keys.encKey, blobAad(a.type, a.id), pack.subarray(a.offset, a.offset + a.length))?.toString(), 'hello');
  assert.equal(a.id.toString('hex'), GOLDEN.helloId);
  // the layout around the header: blobs, sealed header (5 + 46·n bytes of plaintext), u32le header length
  assert.equal(pack.readUInt32LE(pack.length - 4), 5 + 2 * 46 + 28);
});

test('index body encoding is frozen', () => {
  const entry = { type: 1 as const, compression: 1 as const, id: Buffer.alloc(32, 0xab), offset: 7, length: 100, rawLength: 300 };
  const body = encodeIndex([{ packId: 'cd'.repeat(32), entries: [entry] }], ['ef'.repeat(32)]);
  assert.equal(body.toString('hex'), GOLDEN.indexBody);
  assert.deepEqual(decodeIndex(body), { packs: [{ packId: 'cd'.repeat(32), entries: [entry] }], superseded: ['ef'.repeat(32)] });
  assert.deepEqual(decodeIndex(openFile(keys.encKey, INDEX_AAD, sealFile(keys.encKey, INDEX_AAD, body, 3), 'x')), decodeIndex(body));
  // a backup keeps saved packs as records (from a pack's encoded entries) until its checkpoint: same bytes
  const records = [encodeIndexPack({ packId: 'cd'.repeat(32), records: encodeEntries([entry]) })];
  assert.equal(encodeIndexRecords(records, ['ef'.repeat(32)]).toString('hex'), GOLDEN.indexBody);
});

test('tree encoding is frozen (deterministic JSON, sorted by name bytes, raw bytes as base64)', () => {
  const base = { mode: 0o644, uid: 1000, gid: 100, user: 'ann', group: 'users', mtime: -1n, atime: 2n, ctime: 3n, size: 5, inode: 42n, deviceId: 7n, links: 1 };
  const nodes: Node[] = [
    { ...base, name: Buffer.from('zeta'), type: 'file', content: ['00'.repeat(32)] },
    { ...base, name: Buffer.from([0x61, 0xff]), type: 'symlink', size: 0, linkTarget: Buffer.from([0xfe]) },
    { ...base, name: Buffer.from('dir'), type: 'dir', size: 0, subtree: '11'.repeat(32), xattrs: [{ name: Buffer.from('user.a'), value: Buffer.from([1, 2]) }] },
  ];
  const enc = encodeTree(nodes);
  assert.equal(createHash('sha256').update(enc).digest('hex'), GOLDEN.treeSha256, enc.toString());
  assert.deepEqual(decodeTree(enc, 't').map((n) => n.name.toString('hex')), ['61ff', '646972', '7a657461']);
});

test('repository config: version 1 has no blobId (HMAC-SHA256), version 2 names it; others are refused', () => {
  const base = { flashback: 'repository', id: 'ab'.repeat(32), family: 'cd'.repeat(32), created: '2026-11-22T00:00:00.000Z', chunker: { algorithm: 'fastcdc-gear32', min: 1, avg: 2, max: 4 }, packSize: 1024, compression: { algorithm: 'zstd', level: 3 } };
  const parse = (c: object) => parseConfig(Buffer.from(JSON.stringify(c)), '/dev/stick');
  assert.equal(parse({ ...base, version: 1 }).blobId, 'hmac-sha256');
  assert.equal(parse({ ...base, version: 2, blobId: 'blake3' }).blobId, 'blake3');
  assert.equal(parse({ ...base, version: 2, blobId: 'hmac-sha256' }).blobId, 'hmac-sha256');
  assert.throws(() => parse({ ...base, version: 1, blobId: 'blake3' }), /version 1 does not/);
  assert.throws(() => parse({ ...base, version: 2 }), /unknown blob id function undefined/);
  assert.throws(() => parse({ ...base, version: 2, blobId: 'md5' }), /unknown blob id function "md5"/);
  assert.throws(() => parse({ ...base, version: 3, blobId: 'blake3' }), (e: Error & { code?: string }) => e.code === 'ERR_UNSUPPORTED_VERSION');
  // the MAC of a version 1 config covers the fields it has; signing it adds no blobId
  const v1 = parse({ ...base, version: 1 });
  const signed = JSON.parse(signConfig(v1, keys.configKey).toString());
  assert.equal(signed.blobId, undefined);
  verifyConfig(parse(signed), keys.configKey, base.id, '/dev/stick');
  const v2 = JSON.parse(signConfig(parse({ ...base, version: 2, blobId: 'blake3' }), keys.configKey).toString());
  assert.throws(() => verifyConfig(parse({ ...v2, blobId: 'hmac-sha256' }), keys.configKey, base.id, '/dev/stick'), /does not match the key/);
});

/** A copy of a committed fixture repository (scripts/make-fixture.mjs), in a temporary directory. */
function fixture(version: number, t: { after: (fn: () => void) => void }): { dir: string; repo: string; env: Record<string, string> } {
  const dir = mkdtempSync(join(tmpdir(), 'fb-golden-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const repo = join(dir, 'repo');
  cpSync(join(import.meta.dirname, '..', '..', 'test', 'fixtures', `repo-v${version}`), repo, { recursive: true });
  return { dir, repo, env: { FLASHBACK_REPOSITORY: repo, FLASHBACK_PASSWORD: 'fixture', FLASHBACK_TEST_KDF_N: '1024' } };
}

for (const [version, blobIds] of [
  [1, 'hmac-sha256'],
  [2, 'blake3'],
] as const) {
  test(`the committed fixture repository (format v${version}, ${blobIds} ids) opens, checks clean and restores`, async (t) => {
    const { dir, repo, env } = fixture(version, t);
    const config = JSON.parse(readFileSync(join(repo, 'config'), 'utf8'));
    assert.equal(config.version, version);
    assert.equal(config.blobId, version === 1 ? undefined : blobIds, 'version 1 has no blobId field');
    const snaps = await runCli(['--json', 'snapshots'], { env });
    assert.equal(snaps.code, 0, snaps.stderr);
    const list = JSON.parse(snaps.stdout);
    assert.equal(list.length, 1);
    assert.equal(list[0].hostname, 'fixture');
    assert.deepEqual(list[0].tags, [`v${version}`]);
    const check = await runCli(['check', '--read-data'], { env });
    assert.equal(check.code, 0, check.stderr);
    const target = join(dir, 'out');
    const res = await runCli(['restore', `latest:${list[0].paths[0]}`, '--target', target], { env });
    assert.equal(res.code, 0, res.stderr);
    assert.deepEqual(readdirSync(target).sort(), ['docs', 'empty', 'link']);
    assert.equal(readFileSync(join(target, 'docs', 'readme.txt'), 'utf8'), `Flashback fixture repository, format version ${version}.\n`);
    assert.equal(readFileSync(join(target, 'docs', 'numbers.txt'), 'utf8'), Array.from({ length: 20000 }, (_, i) => `${i}\n`).join(''));
  });
}

test('a version 1 repository stays version 1 when backed up into; its twin is version 2 with its HMAC ids; copy joins them', async (t) => {
  const { dir, repo, env } = fixture(1, t);
  const configBefore = readFileSync(join(repo, 'config'));
  const src = join(dir, 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'new.txt'), 'written by version 2 code\n'.repeat(1000));
  const b = await runCli(['backup', src], { env });
  assert.equal(b.code, 0, b.stderr);
  assert.ok(readFileSync(join(repo, 'config')).equals(configBefore), 'the config is not rewritten');
  assert.equal((await runCli(['check', '--read-data'], { env })).code, 0);
  const twin = join(dir, 'twin');
  const twinEnv = { FLASHBACK_REPOSITORY: twin, FLASHBACK_PASSWORD: 'twin', FLASHBACK_TEST_KDF_N: '1024' };
  const init = await runCli(['init', '--copy-secrets-from', repo], { env: { ...twinEnv, FLASHBACK_FROM_PASSWORD: 'fixture' } });
  assert.equal(init.code, 0, init.stderr);
  const tc = JSON.parse(readFileSync(join(twin, 'config'), 'utf8'));
  assert.deepEqual([tc.version, tc.blobId, tc.family], [2, 'hmac-sha256', JSON.parse(configBefore.toString()).family]);
  const copy = await runCli(['copy', '--from-repo', repo], { env: { ...twinEnv, FLASHBACK_FROM_PASSWORD: 'fixture' } });
  assert.equal(copy.code, 0, copy.stderr);
  const check = await runCli(['check', '--read-data'], { env: twinEnv });
  assert.equal(check.code, 0, check.stderr);
  const out = join(dir, 'out');
  assert.equal((await runCli(['restore', `latest:${src}`, '--target', out], { env: twinEnv })).code, 0);
  assert.equal(readFileSync(join(out, 'new.txt'), 'utf8'), 'written by version 2 code\n'.repeat(1000));
  // two members of one family that name blobs differently (only a forged config could) are never joined
  const v1 = { location: repo, config: parseConfig(configBefore, repo) };
  const forged = { location: twin, config: { ...parseConfig(readFileSync(join(twin, 'config')), twin), blobId: 'blake3' as const } };
  assert.doesNotThrow(() => checkFamily(v1, { location: twin, config: parseConfig(readFileSync(join(twin, 'config')), twin) }));
  assert.throws(() => checkFamily(v1, forged), /names blobs with hmac-sha256 and .* with blake3/);
});

const GOLDEN = {
  encKey: '030f6da6bc68805b7f5b16711bb70c2539e98ac4082c3ef0e5db7e47b078a394',
  idKey: '2b73dbe4d2c23b127270517d5aa9a647f72531eb8f6df3ba990adbba7e002b54',
  chunkerKey: '58e1572c6e6a45e3fa5ebec09d3ec72096171f4e51f76db9df7eb83add579330',
  family: '826e018b6cd0276632f748558abd92bee4c10ea2700062b4f46ef388dc3a3f05',
  helloId: '3de17e6a5a30fb16e37726ff75a0044e60cf411939111ebfc86ca928e7ca3618',
  helloBlake3: '657e435d4f307bb9cd70b9dea4e05a9e2084001456b52b68ae544316198359fb',
  pack:
    '5ee0bafa674ba3a70ee6322f7fcd27fbed0bbaadef7043d7ecf5f8a57ccd5ce9e5de9b690cb8d92280f85f76c763b784' +
    'f46c3e2a10cd91cdf135839b8803ba0cf41fba9f83cfc34becc5e5f1d9c9783e1c4b7f0998c37870ced57da9ac60ccce' +
    '3e280ae10149eb4eea77c98a7dccc753c917b40d0503b41df5b9f2736408b472452e08a0ceca47ef68b12d916ebd5ff4' +
    'b194dc6ad646689d175d5d2a921ef743d3c66cc3a9fb9c3103f40f41b4716ca95d53a8def2da54663f53fa9fa32607ed' +
    'e17549fbbc6de3cd403bc5fe4b038da184b38618736ea47d000000',
  packId: '26a64b18cd7a3815314a8b24adf02afe17b609f3cbfb90c31062077e8e7797e0',
  indexBody:
    '0101000000cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd010000000101ababababab' +
    'ababababababababababababababababababababababababababab07000000640000002c01000001000000efefefefef' +
    'efefefefefefefefefefefefefefefefefefefefefefefefefefef',
  treeSha256: '3b7c24b406442718c673c6fc0d64eeb0fec971d688e916fde9cad4dfcc1c20f7',
};

const BLAKE3_KEYED: [number, string][] = [
  [0, '92b2b75604ed3c761f9d6f62392c8a9227ad0ea3f09573e783f1498a4ed60d26'],
  [1, '6d7878dfff2f485635d39013278ae14f1454b8c0a3a2d34bc1ab38228a80c95b'],
  [1025, '357dc55de0c7e382c900fd6e320acc04146be01db6a8ce7210b7189bd664ea69'],
  [4097, '00df940cd36bb9fa7cbbc3556744e0dbc8191401afe70520ba292ee3ca80abbc'],
  [7169, 'ed9b1a922c046fdb3d423ae34e143b05ca1bf28b710432857bf738bcedbfa511'],
];
