import { describe, expect, it } from "vitest";
import { chooseWorkDir, systemFs, TMPFS_MAGIC, type FsProbe } from "../../bench/work-dir.js";

const GB = 1024 ** 3;
const EXT4_MAGIC = 0xef53;
/** A probe that knows a few mount points (pure logic: the real one is checked below). */
const probeOf = (mounts: Record<string, { type: number; freeBytes: number }>): FsProbe => ({ statfs: (dir) => mounts[dir] });

describe("where the bench keeps its NAS directories", () => {
  it("uses tmpfs when it has room for the run", () => {
    // Arrange
    const probe = probeOf({ "/dev/shm": { type: TMPFS_MAGIC, freeBytes: 12 * GB }, "/repo/bench/data": { type: EXT4_MAGIC, freeBytes: 100 * GB } });
    // Act
    const c = chooseWorkDir({ fallbackRoot: "/repo/bench/data", name: "w-1", needBytes: 8 * GB, probe });
    // Assert
    expect(c).toMatchObject({ dir: "/dev/shm/w-1", fs: "tmpfs" });
    expect(c.note).toContain("tmpfs");
  });

  it("falls back to the disk, and says why and what it costs, when tmpfs is too small, missing or not tmpfs", () => {
    const disk = { "/repo/bench/data": { type: EXT4_MAGIC, freeBytes: 100 * GB } };
    const small = chooseWorkDir({ fallbackRoot: "/repo/bench/data", name: "w", needBytes: 8 * GB, probe: probeOf({ ...disk, "/dev/shm": { type: TMPFS_MAGIC, freeBytes: 2 * GB } }) });
    const missing = chooseWorkDir({ fallbackRoot: "/repo/bench/data", name: "w", needBytes: 8 * GB, probe: probeOf(disk) });
    const notTmpfs = chooseWorkDir({ fallbackRoot: "/repo/bench/data", name: "w", needBytes: 8 * GB, probe: probeOf({ ...disk, "/dev/shm": { type: EXT4_MAGIC, freeBytes: 50 * GB } }) });
    for (const c of [small, missing, notTmpfs]) {
      expect(c.dir).toBe("/repo/bench/data/w");
      expect(c.fs).toBe("disk");
      expect(c.note).toContain("booked as handler CPU");
    }
    expect(small.note).toContain("2.0 GB free, 8.0 GB needed");
    expect(missing.note).toContain("/dev/shm not there");
    expect(notTmpfs.note).toContain("/dev/shm is not tmpfs");
  });

  it("takes --work-dir as given, and tells whether it is tmpfs", () => {
    const probe = probeOf({ "/mnt/ram": { type: TMPFS_MAGIC, freeBytes: GB }, "/mnt/disk": { type: EXT4_MAGIC, freeBytes: GB } });
    const ram = chooseWorkDir({ override: "/mnt/ram", fallbackRoot: "/x", name: "w", needBytes: 8 * GB, probe });
    const disk = chooseWorkDir({ override: "/mnt/disk", fallbackRoot: "/x", name: "w", needBytes: 8 * GB, probe });
    expect(ram).toMatchObject({ dir: "/mnt/ram/w", fs: "tmpfs" });
    expect(disk).toMatchObject({ dir: "/mnt/disk/w", fs: "disk" });
    expect(disk.note).toContain("not tmpfs");
  });

  it("reads a real mount's type and free space (the system probe)", () => {
    const root = systemFs.statfs("/");
    expect(root?.freeBytes).toBeGreaterThan(0);
    expect(systemFs.statfs("/no/such/directory/here")).toBeUndefined();
  });
});
