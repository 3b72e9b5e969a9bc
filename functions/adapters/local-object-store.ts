/**
 * `ObjectStore` over a local directory, for local runs: each object is a file at `<root>/<key>`.
 *
 * Same contract as OSS: a write is atomic (temp file, fsync, rename, fsync of the directory),
 * then read back and checked against the expected size, MD5 and CRC-64 before it becomes
 * visible; a mismatch rejects with `IntegrityError` and leaves nothing behind. Keys are
 * validated (no `..`/`.` segments, no leading `/`, no empty segments, no NUL, at most 1023
 * bytes) so a key can never name a path outside the root. Temporary files live in
 * `<root>/.logpipe-tmp/`, a name keys cannot use.
 *
 * A key's directories (`logs/<app>/dt=…/hour=…/`) are made top-down from the deepest one this
 * store has made or used, one mkdir per missing level; a recursive mkdir from the leaf would try
 * each missing level twice, and a new app's first object has three.
 */
import { randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, readdir, readFile, rename, rm, rmdir, stat } from "node:fs/promises";
import { dirname, join, resolve, sep } from "node:path";
import { pipeline } from "node:stream/promises";
import { md5AndCrc64, md5AndCrc64File, type FileDigests } from "../core/crc64.js";
import {
  IntegrityError,
  ObjectStoreError,
  type ExpectedContent,
  type ObjectInfo,
  type ObjectStore,
  type PutFileOptions,
} from "./object-store.js";
import { fdClose, fdOpen, fdSync, readAt, writeAll } from "./fd.js";

const TMP_DIR = ".logpipe-tmp";
/** A body below this size is read back through the handle that wrote it; a larger one is streamed back. */
const READ_BACK_IN_HANDLE = 1024 * 1024;
/** How many directories the store remembers having made (see ensureDir). */
const MAX_KNOWN_DIRS = 100_000;

/** Throws `ObjectStoreError` (code InvalidObjectName) unless `key` is a safe relative path. */
export function validateObjectKey(key: string): void {
  const bad = (why: string): never => {
    throw new ObjectStoreError(`invalid object key ${JSON.stringify(key)}: ${why}`, "ValidateKey", String(key), "InvalidObjectName");
  };
  if (typeof key !== "string" || key.length === 0) bad("empty");
  if (Buffer.byteLength(key) > 1023) bad("longer than 1023 bytes");
  if (key.includes("\0")) bad("contains NUL");
  if (key.startsWith("/") || key.startsWith("\\")) bad("absolute");
  if (key.includes("\\")) bad("contains a backslash");
  const segments = key.split("/");
  for (const s of segments) {
    if (s === "") bad("empty path segment");
    if (s === "." || s === "..") bad(`'${s}' segment`);
  }
  if (segments[0] === TMP_DIR) bad(`'${TMP_DIR}' is reserved`);
}

function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

function isNotFound(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === "ENOENT" || code === "ENOTDIR";
}

export interface LocalObjectStoreOptions {
  /** fsync files and directories (default true; tests may turn it off for speed). */
  fsync?: boolean;
}

export class LocalObjectStore implements ObjectStore {
  readonly root: string;
  readonly description: string;
  private readonly fsync: boolean;
  private tmpDirMade = false;

  constructor(root: string, options: LocalObjectStoreOptions = {}) {
    this.root = resolve(root);
    this.description = `file://${this.root}/`;
    this.fsync = options.fsync ?? true;
  }

  /** Absolute path of a key's file (validates the key). */
  pathOf(key: string): string {
    validateObjectKey(key);
    const p = join(this.root, ...key.split("/"));
    if (!p.startsWith(this.root + sep)) throw new ObjectStoreError(`invalid object key ${JSON.stringify(key)}`, "ValidateKey", key, "InvalidObjectName");
    return p;
  }

  async putFile(key: string, path: string, expected: ExpectedContent, _options?: PutFileOptions): Promise<void> {
    const dest = this.pathOf(key);
    await this.writeVerified(key, dest, expected, async (tmp) => {
      await pipeline(createReadStream(path), createWriteStream(tmp, { flags: "wx" }));
      if (this.fsync) await fsyncPath(tmp);
      return undefined;
    });
  }

  async putBuffer(key: string, body: Buffer, known?: ExpectedContent): Promise<void> {
    const dest = this.pathOf(key);
    // the written file is checked against `known` (the caller's hashes of what it meant to send)
    const expected = known ?? md5AndCrc64(body);
    await this.writeVerified(key, dest, expected, async (tmp) => {
      // one descriptor writes, syncs and reads back (most objects are small: one open, not three)
      const fd = await fdOpen(tmp, "wx+");
      try {
        await writeAll(fd, body, 0);
        if (this.fsync) await fdSync(fd);
        if (body.length >= READ_BACK_IN_HANDLE) return undefined;
        // one byte more than was written, so extra bytes in the file show
        return md5AndCrc64(await readAt(fd, 0, body.length + 1));
      } finally {
        await fdClose(fd);
      }
    });
  }

  async getBuffer(key: string): Promise<Buffer> {
    const p = this.pathOf(key);
    try {
      return await readFile(p);
    } catch (err) {
      if (isNotFound(err) || (err as NodeJS.ErrnoException).code === "EISDIR") {
        throw new ObjectStoreError(`GetObject ${this.description}${key}: no such key`, "GetObject", key, "NoSuchKey", 404);
      }
      throw err;
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const p = this.pathOf(key);
    try {
      const st = await stat(p);
      if (!st.isFile()) return undefined;
      return { key, size: st.size, lastModified: st.mtime };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    if (prefix.includes("\0") || prefix.startsWith("/") || prefix.split("/").some((s) => s === "..")) {
      throw new ObjectStoreError(`invalid list prefix ${JSON.stringify(prefix)}`, "ListObjects", prefix, "InvalidArgument");
    }
    // Walk only the deepest directory the prefix names, collect, then sort by key bytes (a
    // directory-by-directory walk would put "a/b" before "a-c", unlike OSS).
    const slash = prefix.lastIndexOf("/");
    const baseKey = slash >= 0 ? prefix.slice(0, slash) : "";
    const keys: string[] = [];
    const walk = async (dirKey: string): Promise<void> => {
      const dir = dirKey ? join(this.root, ...dirKey.split("/")) : this.root;
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (err) {
        if (isNotFound(err)) return;
        throw err;
      }
      for (const e of entries) {
        const k = dirKey ? `${dirKey}/${e.name}` : e.name;
        if (!dirKey && e.name === TMP_DIR) continue;
        if (e.isDirectory()) {
          // descend only where keys can still match the prefix
          if (prefix.startsWith(k + "/") || (k + "/").startsWith(prefix) || k.startsWith(prefix)) await walk(k);
        } else if (e.isFile() && k.startsWith(prefix)) {
          keys.push(k);
        }
      }
    };
    if (baseKey && baseKey.split("/").some((s) => s === "" || s === ".")) return;
    await walk(baseKey);
    keys.sort(compareKeys);
    for (const k of keys) {
      try {
        const st = await stat(join(this.root, ...k.split("/")));
        yield { key: k, size: st.size, lastModified: st.mtime };
      } catch (err) {
        if (!isNotFound(err)) throw err; // deleted meanwhile
      }
    }
  }

  /** Deletes an object (absent is fine) and prunes directories it leaves empty. */
  async delete(key: string): Promise<void> {
    const p = this.pathOf(key);
    await rm(p, { force: true });
    let dir = dirname(p);
    while (dir.startsWith(this.root + sep)) {
      try {
        await rmdir(dir);
      } catch {
        break; // not empty (or gone)
      }
      this.knownDirs.delete(dir);
      dir = dirname(dir);
    }
  }

  // ---- internals --------------------------------------------------------------------------

  /** Directories under the root this store made or used (a cache: a miss only costs an mkdir). */
  private readonly knownDirs = new Set<string>();

  /** Makes `dir` (the root or below it) top-down from its deepest known ancestor. */
  private async ensureDir(dir: string): Promise<void> {
    if (this.knownDirs.has(dir)) return;
    if (dir === this.root || !dir.startsWith(this.root + sep)) {
      await mkdir(dir, { recursive: true });
    } else {
      await this.ensureDir(dirname(dir));
      await mkdir(dir).catch(async (err: unknown) => {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "EEXIST") return;
        if (code !== "ENOENT") throw err;
        // an ancestor was removed under us since it was made: make the whole chain
        this.forgetDirs(dirname(dir));
        await mkdir(dir, { recursive: true });
      });
    }
    // bounded: a long-lived store (the bench's hours of objects) starts over rather than grow
    if (this.knownDirs.size >= MAX_KNOWN_DIRS) this.knownDirs.clear();
    this.knownDirs.add(dir);
  }

  /** Forgets `dir` and its ancestors (one of them was removed under this store). */
  private forgetDirs(dir: string): void {
    for (let d = dir; d.startsWith(this.root); d = dirname(d)) {
      this.knownDirs.delete(d);
      if (d === this.root) break;
    }
  }

  private async writeVerified(
    key: string,
    dest: string,
    expected: ExpectedContent,
    /** writes the temp file (synced when fsync is on); returns the digests of what it read back, if it did */
    write: (tmp: string) => Promise<FileDigests | undefined>,
  ): Promise<void> {
    const tmpDir = join(this.root, TMP_DIR);
    // made once per store (a PUT is one request to OSS; here every mkdir is a file system call)
    if (!this.tmpDirMade) {
      await mkdir(tmpDir, { recursive: true });
      this.tmpDirMade = true;
    }
    const tmp = join(tmpDir, `${process.pid}-${randomBytes(8).toString("hex")}`);
    try {
      let readBack: FileDigests | undefined;
      try {
        readBack = await write(tmp);
      } catch (err) {
        if (!isNotFound(err)) throw err;
        // the temp directory was removed under us (a reset of the store): make it again, once
        await mkdir(tmpDir, { recursive: true });
        readBack = await write(tmp);
      }
      const got = readBack ?? (await md5AndCrc64File(tmp));
      if (got.size !== expected.size || !got.md5.equals(expected.md5) || got.crc64 !== expected.crc64) {
        throw new IntegrityError(
          `PutObject ${this.description}${key}: written bytes do not match (size ${got.size}/${expected.size}, ` +
            `md5 ${got.md5.toString("hex")}/${expected.md5.toString("hex")}, crc64 ${got.crc64}/${expected.crc64})`,
          key,
          { expected: `${expected.size}:${expected.crc64}`, actual: `${got.size}:${got.crc64}` },
        );
      }
      const dir = dirname(dest);
      await this.ensureDir(dir);
      await rename(tmp, dest).catch(async (err: unknown) => {
        if (!isNotFound(err)) throw err;
        // removed under us (a delete through another store on the same root): make it again, once
        this.forgetDirs(dir);
        await this.ensureDir(dir);
        await rename(tmp, dest);
      });
      if (this.fsync) await fsyncPath(dirname(dest));
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }
}

async function fsyncPath(path: string): Promise<void> {
  const fd = await fdOpen(path, "r");
  try {
    await fdSync(fd);
  } finally {
    await fdClose(fd);
  }
}
