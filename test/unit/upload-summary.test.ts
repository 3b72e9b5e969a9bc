import { describe, expect, it } from "vitest";
import { agePercentiles, uploadSummary, type UploadResult } from "../../functions/core/upload.js";

describe("upload's summary (the FC handler's log line and reply)", () => {
  it("sums the records' ages up as records-weighted percentiles instead of one entry per member", () => {
    // Arrange: a seal window's tick at 3,000 apps: one small member per app, one busy app's member of many records
    const ages = [...Array.from({ length: 3000 }, (_, i) => ({ ageMs: 3_600_000 + i, records: 1 })), { ageMs: 60_000, records: 9_000 }];
    const result: UploadResult = { sealed: 3001, uploaded: 3001, uploadedBytes: 1, failed: 0, swept: 0, redriven: 0, orphansRemoved: 0, errors: [], ages, durationMs: 5 };
    // Act
    const s = uploadSummary(result);
    // Assert: 9,000 of 12,000 records are a minute old, so the median is a minute; the tail is the hour
    expect("ages" in s).toBe(false);
    expect(s.recordAge).toEqual({ records: 12_000, p50Ms: 60_000, p99Ms: agePercentiles(ages).p99Ms, maxMs: 3_602_999 });
    expect(s.recordAge.p99Ms).toBeGreaterThan(3_600_000);
    expect(JSON.stringify(s).length).toBeLessThan(400);
    expect(s.uploaded).toBe(3001);
  });

  it("says zero for a tick that shipped nothing", () => {
    const s = uploadSummary({ sealed: 0, uploaded: 0, uploadedBytes: 0, failed: 0, swept: 0, redriven: 0, orphansRemoved: 0, errors: [], ages: [], durationMs: 1 });
    expect(s.recordAge).toEqual({ records: 0, p50Ms: 0, p99Ms: 0, maxMs: 0 });
  });
});
