import { describe, expect, it } from "vitest";
import { normalizeHeaders, parseKafkaBatch, parseTimerEvent, recordAt, scanKafkaBatch, UnreadableEventError } from "../../functions/core/events.js";

const cloudEvent = (data: Record<string, unknown>) => ({
  specversion: "1.0", id: "8e215af8", source: "acs:alikafka", type: "alikafka:Topic:Message",
  subject: "acs:alikafka:alikafka_pre-cn-i7m2t7t1:topic:mytopic", datacontenttype: "application/json; charset=utf-8",
  time: "2022-06-23T02:49:51.589Z", aliyunaccountid: "1649015465", data,
});
const data = (over: Record<string, unknown> = {}) => ({
  topic: "mytopic", partition: 7, offset: 25, timestamp: 1655952591589,
  headers: { headers: [], isReadOnly: false }, key: "keytest", value: '{"appId":"pay-gw","msg":"x"}', ...over,
});

describe("parseKafkaBatch", () => {
  it("reads the documented CloudEvents array", () => {
    const { records, rejected } = parseKafkaBatch(Buffer.from(JSON.stringify([cloudEvent(data())])));
    expect(rejected).toEqual([]);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ topic: "mytopic", partition: 7, offset: 25, key: "keytest", timestamp: 1655952591589 });
    expect(records[0]!.value.toString()).toBe('{"appId":"pay-gw","msg":"x"}');
  });

  it("accepts elements that are JSON strings of the event", () => {
    const { records } = parseKafkaBatch(JSON.stringify([JSON.stringify(cloudEvent(data({ offset: 3 })))]));
    expect(records.map((r) => r.offset)).toEqual([3]);
  });

  it("accepts RawData elements (the data part only)", () => {
    const { records } = parseKafkaBatch(JSON.stringify([data({ offset: 9 }), data({ offset: 10 })]));
    expect(records.map((r) => r.offset)).toEqual([9, 10]);
  });

  it("treats a missing key as null and keeps non-JSON values byte for byte", () => {
    const d = data({ value: "plain text log line \t with tab" });
    delete (d as Record<string, unknown>).key;
    const { records } = parseKafkaBatch(JSON.stringify([cloudEvent(d)]));
    expect(records[0]!.key).toBeNull();
    expect(records[0]!.value.toString()).toBe("plain text log line \t with tab");
  });

  it("reads headers as wrapped list, plain array or plain object", () => {
    expect(normalizeHeaders({ headers: [{ key: "app", value: "a" }], isReadOnly: false })).toEqual({ app: "a" });
    expect(normalizeHeaders([{ key: "app", value: "b" }])).toEqual({ app: "b" });
    expect(normalizeHeaders({ app: "c", isReadOnly: true })).toEqual({ app: "c" });
    expect(normalizeHeaders([{ key: "bytes", value: [104, 105] }])).toEqual({ bytes: "hi" });
  });

  it("takes the topic from the subject when data has none", () => {
    const d = data();
    delete (d as Record<string, unknown>).topic;
    expect(parseKafkaBatch(JSON.stringify([cloudEvent(d)])).records[0]!.topic).toBe("mytopic");
  });

  it("decodes valueBase64 so values that are not UTF-8 survive", () => {
    const bytes = Buffer.from([0x7b, 0xff, 0xfe, 0x7d]);
    const { records } = parseKafkaBatch(JSON.stringify([cloudEvent(data({ value: undefined, valueBase64: bytes.toString("base64") }))]));
    expect(records[0]!.value.equals(bytes)).toBe(true);
  });

  it("rejects bad elements with a reason and keeps the good ones", () => {
    const batch = [cloudEvent(data({ offset: 1 })), 42, "not json", { foo: 1 }, cloudEvent(data({ partition: -1 })), cloudEvent(data({ offset: 2, value: null }))];
    const { records, rejected } = parseKafkaBatch(JSON.stringify(batch));
    expect(records.map((r) => r.offset)).toEqual([1]);
    expect(rejected.map((r) => r.index)).toEqual([1, 2, 3, 4, 5]);
    expect(rejected.map((r) => r.reason)).toEqual([
      "element is number, not an event object",
      "element is a string that is not JSON",
      "element is neither a CloudEvent nor a Kafka record",
      "data.partition is missing or not a non-negative integer",
      "data.value is missing",
    ]);
    expect(rejected[1]!.raw).toBe("not json");
  });

  it("accepts a single event object as a batch of one", () => {
    expect(parseKafkaBatch(JSON.stringify(cloudEvent(data()))).records).toHaveLength(1);
  });

  it.each([
    ["empty payload", ""],
    ["not JSON", "{nope"],
    ["a JSON number", "42"],
  ])("throws UnreadableEventError for %s", (_name, payload) => {
    expect(() => parseKafkaBatch(Buffer.from(payload))).toThrow(UnreadableEventError);
  });

  it("returns an empty batch for []", () => {
    expect(parseKafkaBatch("[]")).toEqual({ records: [], rejected: [] });
  });
});

describe("scanKafkaBatch", () => {
  const expected = { topic: "mytopic", partition: 7, offset: 25, timestamp: 1655952591589, key: "keytest", headers: {} };

  it("reads a CloudEvents batch on the single-pass path", () => {
    const s = scanKafkaBatch(Buffer.from(JSON.stringify([cloudEvent(data())])));
    expect(s.path).toBe("scan");
    expect(s.table.count).toBe(1);
    expect({ ...recordAt(s.table, 0), value: recordAt(s.table, 0).value.toString() }).toEqual({ ...expected, value: '{"appId":"pay-gw","msg":"x"}' });
  });

  it("reads a RawData batch (eventSchema RawData: the data parts only) on the single-pass path, with the same records", () => {
    const s = scanKafkaBatch(Buffer.from(JSON.stringify([data({ offset: 25 }), data({ offset: Number.MAX_SAFE_INTEGER, key: null, value: "line\nbreak", headers: [{ key: "app", value: "h" }] })])));
    expect(s.path).toBe("scan");
    expect(s.rejected).toEqual([]);
    expect(s.table.count).toBe(2);
    expect({ ...recordAt(s.table, 0), value: recordAt(s.table, 0).value.toString() }).toEqual({ ...expected, value: '{"appId":"pay-gw","msg":"x"}' });
    expect({ ...recordAt(s.table, 1), value: recordAt(s.table, 1).value.toString() }).toEqual({ ...expected, offset: 9007199254740991, key: null, headers: { app: "h" }, value: "line\nbreak" });
    expect([...s.table.hasNewline.subarray(0, 2)]).toEqual([0, 1]);
  });

  it("leaves a RawData batch with a bad element to parseKafkaBatch: the good records plus the rejected element", () => {
    const s = scanKafkaBatch(Buffer.from(JSON.stringify([data({ offset: 1 }), data({ offset: 2 ** 53 }), { topic: "mytopic" }])));
    expect(s.path).toBe("parse");
    expect(s.table.count).toBe(1);
    expect(s.table.offset[0]).toBe(1);
    expect(s.rejected.map(({ index, reason }) => [index, reason])).toEqual([
      [1, "data.offset is missing or not a non-negative integer"],
      [2, "element is neither a CloudEvent nor a Kafka record"],
    ]);
  });
});

describe("parseTimerEvent", () => {
  it("reads the timer trigger payload", () => {
    expect(parseTimerEvent(Buffer.from('{"triggerTime":"2023-12-26T07:49:00Z","triggerName":"timer","payload":"drain"}'))).toEqual({
      triggerTime: "2023-12-26T07:49:00Z", triggerName: "timer", payload: "drain",
    });
  });
  it("treats an empty or foreign payload as run-now", () => {
    expect(parseTimerEvent(Buffer.alloc(0))).toEqual({});
    expect(parseTimerEvent(Buffer.from("garbage"))).toEqual({});
  });
});
