import { describe, expect, it } from "vitest";
import { archiveObjectKey, deadLetterKey, FLAT_OUTBOX_DIR, keyOfOutboxPath, OUTBOX_DIR, outboxPath } from "../../functions/core/layout.js";

describe("outbox file names", () => {
  it("are flat: one file per key directly in the flat outbox, and give the key back", () => {
    const keys = [
      archiveObjectKey("logs", "checkout-api", 3, 17, Date.UTC(2026, 11, 1, 10), "UTC", "0123456789abcdef"),
      archiveObjectKey("", "_b64.Li4vZXRj", 0, 0, Date.UTC(2026, 0, 1, 0), "Asia/Shanghai", "ffffffffffff"),
      deadLetterKey("team/logs", "records", "a".repeat(24), Date.UTC(2026, 11, 1), "UTC"),
    ];
    for (const key of keys) {
      const rel = outboxPath(key);
      expect(rel.startsWith(`${FLAT_OUTBOX_DIR}/`)).toBe(true);
      expect(rel.slice(FLAT_OUTBOX_DIR.length + 1)).not.toContain("/");
      expect(keyOfOutboxPath(rel)).toBe(key);
    }
  });

  it("keep the nested layout (in the outbox older versions ship from) for a key too long for one file name", () => {
    const key = archiveObjectKey("p".repeat(120), "a".repeat(64), 9, 123456, Date.UTC(2026, 11, 1), "UTC", "0123456789ab");
    const rel = outboxPath(key);
    expect(rel).toBe(`${OUTBOX_DIR}/${key}`);
    expect(keyOfOutboxPath(rel)).toBe(key);
    // every flat name leaves room for a temp name within NAME_MAX (255)
    const longestFlat = archiveObjectKey("p".repeat(40), "a".repeat(64), 9, 123456, Date.UTC(2026, 11, 1), "UTC", "0123456789ab");
    expect(outboxPath(longestFlat).startsWith(`${FLAT_OUTBOX_DIR}/`)).toBe(true);
    expect(Buffer.byteLength(outboxPath(longestFlat).slice(FLAT_OUTBOX_DIR.length + 1)) + ".tmp.".length + 9).toBeLessThanOrEqual(255);
  });

  it("never decode a name a key could not have produced into another key", () => {
    expect(outboxPath("odd+name/x")).toBe(`${OUTBOX_DIR}/odd+name/x`); // a "+" in a key keeps it nested
    expect(keyOfOutboxPath(`${OUTBOX_DIR}/odd+name/x`)).toBe("odd+name/x");
  });
});
