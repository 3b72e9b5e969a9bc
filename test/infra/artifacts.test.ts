/**
 * Deterministic artifacts: the same source gives the same zip bytes (and digest) on every
 * build, in any time zone; different source gives a different digest.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { buildFunction, writeArtifacts, REPO_ROOT } from "../../cli/build/artifacts.js";
import { crc64Decimal, deterministicZip, digestOf } from "../../cli/build/zip.js";
import { readZip } from "./helpers.js";

function fixtureRoot(source: string): string {
  const root = mkdtempSync(path.join(os.tmpdir(), "logpipe-build-"));
  mkdirSync(path.join(root, "functions", "split"), { recursive: true });
  writeFileSync(path.join(root, "functions", "split", "index.ts"), source);
  return root;
}

const SOURCE = `import { createHash } from "node:crypto";\nexport async function handler(event: Buffer) { return createHash("sha256").update(event).digest("hex"); }\n`;

describe("deterministic zip", () => {
  it("CRC-64/XZ matches the check value", () => {
    expect(crc64Decimal(Buffer.from("123456789"))).toBe("11051210869376104954");
  });

  it("sorts entries, fixes timestamps and modes, adds no extra fields", async () => {
    const zip = await deterministicZip([{ name: "b.js", data: Buffer.from("b") }, { name: "a.js", data: Buffer.from("a".repeat(1000)) }]);
    const entries = readZip(zip);
    expect(entries.map((e) => e.name)).toEqual(["a.js", "b.js"]);
    for (const e of entries) {
      expect(e.dosDate).toBe((0 << 9) | (1 << 5) | 1); // 1980-01-01
      expect(e.dosTime).toBe(0);
      expect(e.externalAttrs >>> 16).toBe(0o100644);
      expect(e.extraLength).toBe(0);
    }
    expect(entries[0]!.data.toString()).toBe("a".repeat(1000));
    expect(await deterministicZip([{ name: "a.js", data: Buffer.from("a".repeat(1000)) }, { name: "b.js", data: Buffer.from("b") }])).toEqual(zip);
  });

  it("rejects unsafe or duplicate entry names", async () => {
    await expect(deterministicZip([{ name: "../x", data: Buffer.alloc(0) }])).rejects.toThrow(/relative/);
    await expect(deterministicZip([{ name: "a", data: Buffer.alloc(0) }, { name: "a", data: Buffer.alloc(1) }])).rejects.toThrow(/twice/);
  });
});

describe("esbuild artifacts", () => {
  it("build twice → same bytes and digest; different source → different digest", async () => {
    const root = fixtureRoot(SOURCE);
    const a = await buildFunction("split", { root });
    const b = await buildFunction("split", { root });
    expect(a.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(b.zip.equals(a.zip)).toBe(true);
    expect(b.digest).toBe(a.digest);
    expect(digestOf(a.zip)).toBe(a.digest);
    // the same source in another checkout directory still gives the same bytes
    const elsewhere = fixtureRoot(SOURCE);
    expect((await buildFunction("split", { root: elsewhere })).digest).toBe(a.digest);
    writeFileSync(path.join(root, "functions", "split", "index.ts"), SOURCE.replace("sha256", "sha1"));
    expect((await buildFunction("split", { root })).digest).not.toBe(a.digest);
    expect(readZip(a.zip).map((e) => e.name)).toEqual(["index.js", "index.js.map"]);
  });

  it("the digest does not depend on the time zone or the clock", () => {
    const root = fixtureRoot(SOURCE);
    const script = `import { buildFunction } from ${JSON.stringify(path.join(REPO_ROOT, "cli/build/artifacts.ts"))};\nconst a = await buildFunction("split", { root: ${JSON.stringify(root)} });\nconsole.log(a.digest);\n`;
    const file = path.join(root, "digest.mts");
    writeFileSync(file, script);
    const digests = ["UTC", "Asia/Shanghai", "America/Los_Angeles"].map((TZ) => {
      const r = spawnSync(process.execPath, ["--import", "tsx", file], { env: { ...process.env, TZ }, encoding: "utf8", cwd: REPO_ROOT });
      expect(r.status, r.stderr).toBe(0);
      return r.stdout.trim();
    });
    expect(new Set(digests).size).toBe(1);
  });

  it("the real handlers build reproducibly, and writeArtifacts lays out the manifest", async () => {
    const first = await buildFunction("compress");
    const second = await buildFunction("compress");
    expect(second.digest).toBe(first.digest);
    expect(first.inputs).toContain("functions/compress/index.ts");
    const dir = mkdtempSync(path.join(os.tmpdir(), "logpipe-artifacts-"));
    const written = await writeArtifacts([first], dir);
    expect(JSON.parse(readFileSync(path.join(dir, "manifest.json"), "utf8"))).toEqual({ compress: first.digest });
    expect(readFileSync(path.join(dir, `${first.digest}.zip`)).equals(first.zip)).toBe(true);
    expect(readFileSync(path.join(dir, "compress.zip")).equals(first.zip)).toBe(true);
    expect(written.manifest.compress).toBe(first.digest);
  });
});

describe("logpipe build", () => {
  it("exits 2 on an unknown function, 0 with a manifest on success", () => {
    const bad = spawnSync(process.execPath, [path.join(REPO_ROOT, "bin/logpipe.mjs"), "build", "nope"], { encoding: "utf8" });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/unknown function/);
    const out = mkdtempSync(path.join(os.tmpdir(), "logpipe-cli-build-"));
    const ok = spawnSync(process.execPath, [path.join(REPO_ROOT, "bin/logpipe.mjs"), "build", "upload", "--out", out, "--json"], { encoding: "utf8" });
    expect(ok.status, ok.stderr).toBe(0);
    const doc = JSON.parse(ok.stdout);
    expect(doc.manifest.upload).toMatch(/^sha256:/);
    expect(JSON.parse(readFileSync(path.join(out, "manifest.json"), "utf8"))).toEqual(doc.manifest);
  });
});
