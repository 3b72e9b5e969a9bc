import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { md5AndCrc64 } from "../../functions/core/crc64.js";
import { LocalObjectStore, validateObjectKey } from "../../functions/adapters/local-object-store.js";
import { IntegrityError, ObjectStoreError } from "../../functions/adapters/object-store.js";

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe("LocalObjectStore", () => {
  let dir: string;
  let root: string;
  let store: LocalObjectStore;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "local-store-"));
    root = join(dir, "objects");
    store = new LocalObjectStore(root);
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("round-trips a file: putFile, head, getBuffer, the object is a file at its key", async () => {
    const data = randomBytes(200_000);
    const src = join(dir, "src.bin");
    await writeFile(src, data);

    await store.putFile("app1/dt=2024-01-01/hour=03/a.gz", src, md5AndCrc64(data));

    expect((await store.getBuffer("app1/dt=2024-01-01/hour=03/a.gz")).equals(data)).toBe(true);
    const info = await store.head("app1/dt=2024-01-01/hour=03/a.gz");
    expect(info?.size).toBe(data.length);
    expect((await stat(join(root, "app1", "dt=2024-01-01", "hour=03", "a.gz"))).size).toBe(data.length);
    expect(store.description).toBe(`file://${root}/`);
  });

  it("round-trips a buffer and overwrites the same key", async () => {
    await store.putBuffer("dead/x.json", Buffer.from("one"));
    await store.putBuffer("dead/x.json", Buffer.from("two!"));
    expect((await store.getBuffer("dead/x.json")).toString()).toBe("two!");
  });

  it("rejects with IntegrityError when the file does not match what the caller expects, leaving nothing", async () => {
    const src = join(dir, "src.bin");
    await writeFile(src, Buffer.from("actual content"));
    const wrong = md5AndCrc64(Buffer.from("expected content"));

    await expect(store.putFile("k/v", src, wrong)).rejects.toBeInstanceOf(IntegrityError);

    expect(await store.head("k/v")).toBeUndefined();
    expect(await readdir(join(root, ".logpipe-tmp"))).toEqual([]);
    const wrongCrcOnly = { ...md5AndCrc64(Buffer.from("actual content")), crc64: 1n };
    await expect(store.putFile("k/v", src, wrongCrcOnly)).rejects.toThrow(/crc64/);
  });

  it("checks a buffer's write against the caller's digests too, small and large, leaving nothing when they differ", async () => {
    for (const size of [100, 2 * 1024 * 1024]) {
      const body = randomBytes(size);
      const meant = md5AndCrc64(randomBytes(size)); // what the caller believes it sends

      await expect(store.putBuffer(`b/${size}`, body, meant)).rejects.toBeInstanceOf(IntegrityError);

      expect(await store.head(`b/${size}`)).toBeUndefined();
      expect(await readdir(join(root, ".logpipe-tmp"))).toEqual([]);
      await store.putBuffer(`b/${size}`, body, md5AndCrc64(body));
      expect((await store.getBuffer(`b/${size}`)).equals(body)).toBe(true);
    }
  });

  it("head is undefined and getBuffer throws NoSuchKey for a missing key", async () => {
    expect(await store.head("nope/x")).toBeUndefined();
    const err = await store.getBuffer("nope/x").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ObjectStoreError);
    expect((err as ObjectStoreError).code).toBe("NoSuchKey");
  });

  it.each(["../x", "/abs", "a//b", "a/../../etc/passwd", "", "a/./b", "a/", ".logpipe-tmp/x", "a\0b"])(
    "rejects the key %j before touching the disk",
    async (key) => {
      expect(() => validateObjectKey(key)).toThrow(ObjectStoreError);
      await expect(store.putBuffer(key, Buffer.from("x"))).rejects.toThrow(/invalid object key/);
      await expect(store.getBuffer(key)).rejects.toThrow(/invalid object key/);
      await expect(store.head(key)).rejects.toThrow(/invalid object key/);
    },
  );

  it("nothing escapes the root even with a hostile key", async () => {
    await expect(store.putBuffer("../escape", Buffer.from("x"))).rejects.toThrow();
    expect(await readdir(dir)).not.toContain("escape");
  });

  it("lists recursively in key byte order (like OSS), filtered by prefix, skipping temp files", async () => {
    const keys = ["a/b", "a-c", "a/a/z", "b", "a/b0", "ab", "a/é", "a/z"];
    for (const k of keys) await store.putBuffer(k, Buffer.from(k));

    const all = (await collect(store.list(""))).map((o) => o.key);
    const underA = (await collect(store.list("a/"))).map((o) => o.key);
    const aPrefix = (await collect(store.list("a"))).map((o) => o.key);
    const partial = (await collect(store.list("a/b"))).map((o) => o.key);

    expect(all).toEqual(["a-c", "a/a/z", "a/b", "a/b0", "a/z", "a/é", "ab", "b"]);
    expect(underA).toEqual(["a/a/z", "a/b", "a/b0", "a/z", "a/é"]);
    expect(aPrefix).toEqual(["a-c", "a/a/z", "a/b", "a/b0", "a/z", "a/é", "ab"]);
    expect(partial).toEqual(["a/b", "a/b0"]);
    expect((await collect(store.list("zzz/"))).length).toBe(0);
    const sizes = await collect(store.list("a/a/"));
    expect(sizes).toEqual([expect.objectContaining({ key: "a/a/z", size: 5 })]);
  });

  it("delete removes the object and prunes empty directories", async () => {
    await store.putBuffer("x/y/z", Buffer.from("1"));
    await store.delete("x/y/z");
    expect(await store.head("x/y/z")).toBeUndefined();
    expect((await readdir(root)).filter((n) => n !== ".logpipe-tmp")).toEqual([]);
  });

  it("writes into directories it made before, and makes them again when another store on the same root pruned them", async () => {
    // Arrange: this store made x/y/ for a first object; another store deletes it and prunes x/y/ and x/
    await store.putBuffer("x/y/a", Buffer.from("1"));
    await new LocalObjectStore(root).delete("x/y/a");
    expect((await readdir(root)).filter((n) => n !== ".logpipe-tmp")).toEqual([]);

    // Act: this store writes into a new directory below the one it remembers, then into that one
    await store.putBuffer("x/y/z/c", Buffer.from("333"));
    await store.putBuffer("x/y/b", Buffer.from("22"));

    // Assert: both are there, whole
    expect((await store.getBuffer("x/y/b")).toString()).toBe("22");
    expect((await store.getBuffer("x/y/z/c")).toString()).toBe("333");
    expect((await collect(store.list("x/"))).map((o) => o.key)).toEqual(["x/y/b", "x/y/z/c"]);
  });
});
