import { describe, expect, it } from "vitest";
import { parseAppIdSources } from "../../functions/core/config.js";
import {
  appIdFromSegment, appSegment, compileFieldPath, createRouter, extractJsonField, IdTable, INVALID_APP, referenceJsonField, routeSegment, UNROUTED_APP,
} from "../../functions/core/routing.js";

const field = (json: string | Buffer, path = "appId") => extractJsonField(Buffer.isBuffer(json) ? json : Buffer.from(json), compileFieldPath(path.split(".")));

describe("extractJsonField (must equal JSON.parse + path walk)", () => {
  const cases: [string, string, string | undefined][] = [
    ['{"appId":"pay-gw"}', "appId", "pay-gw"],
    ['{"msg":"\\"appId\\":\\"x\\"","appId":"real"}', "appId", "real"],
    ['{"msg":"appId","x":1}', "appId", undefined],
    ['{"appId":"first","appId":"last"}', "appId", "last"],
    ['{"appId":"a\\u0062c"}', "appId", "abc"],
    ['{"app\\u0049d":"escaped-key"}', "appId", "escaped-key"],
    ['{"appId":"quote\\"inside"}', "appId", 'quote"inside'],
    ['{"appId":42}', "appId", "42"],
    ['{"appId":1e2}', "appId", "100"],
    ['{"appId":-0}', "appId", "0"],
    ['{"appId":1e400}', "appId", undefined],
    ['{"appId":""}', "appId", undefined],
    ['{"appId":null}', "appId", undefined],
    ['{"appId":true}', "appId", undefined],
    ['{"appId":{"x":1}}', "appId", undefined],
    ['{"appId":["a"]}', "appId", undefined],
    ['{"nested":{"appId":"inner"}}', "appId", undefined],
    ['{"ctx":{"app":"deep"}}', "ctx.app", "deep"],
    ['{"ctx":{"app":"a"},"ctx":{"x":1}}', "ctx.app", undefined],
    ['{"ctx":{"app":"a"},"ctx":"str"}', "ctx.app", undefined],
    ['{"ctx":{"app":"a","app":"b"}}', "ctx.app", "b"],
    ['{"ctx":[{"app":"no"}]}', "ctx.app", undefined],
    ['  {"appId" : "spaced" }  \r\n', "appId", "spaced"],
    ['{"appId":"x",}', "appId", undefined],
    ['{"appId":"x"} trailing', "appId", undefined],
    ['{"appId":"x"', "appId", undefined],
    ['{"appId":"bad\\q"}', "appId", undefined],
    ['{"appId":"ctl\u0001"}', "appId", undefined],
    ['{"appId":01}', "appId", undefined],
    ['{"appId":"x","n":[1,2,{"a":[]}],"t":true,"f":false,"z":null}', "appId", "x"],
    ["plain text log line", "appId", undefined],
    ['["appId","x"]', "appId", undefined],
    ['{"appId":"日本"}', "appId", "日本"],
    ['{"__proto__":"p"}', "__proto__", "p"],
  ];
  it.each(cases)("%s at %s → %s", (json, path, expected) => {
    expect(field(json, path)).toBe(expected);
    expect(referenceJsonField(json, path.split("."))).toBe(expected);
  });

  it("handles invalid UTF-8 like JSON.parse of the decoded text", () => {
    const bytes = Buffer.concat([Buffer.from('{"appId":"a'), Buffer.from([0xff, 0xe2]), Buffer.from('"}')]);
    expect(field(bytes)).toBe(referenceJsonField(bytes.toString("utf8"), ["appId"]));
  });

  it("returns each record's own id while ids repeat, differ by one byte, or overflow the id cache", () => {
    const ids = [...Array.from({ length: 5000 }, (_, i) => `app-${i}`), "pay-gw", "pay-gx", "pay-gw", "日本", "pay-gw", "\u00ff"];
    for (let round = 0; round < 2; round++) {
      for (const id of ids) expect(field(`{"appId":${JSON.stringify(id)},"n":${round}}`)).toBe(id);
    }
    const bad = Buffer.concat([Buffer.from('{"appId":"a'), Buffer.from([0xff]), Buffer.from('"}')]);
    expect(field(bad)).toBe(field(bad)); // invalid UTF-8 decodes the same from the cache
    expect(field(bad)).toBe(referenceJsonField(bad.toString("utf8"), ["appId"]));
  });

  it("does not overflow the stack on deeply nested input", () => {
    const deep = '{"x":' + "[".repeat(200_000) + "]".repeat(200_000) + ',"appId":"ok"}';
    expect(field(deep)).toBe("ok");
  });
});

describe("appSegment", () => {
  it("uses safe ids as they are", () => {
    expect(appSegment("pay-gw.v2_1")).toBe("pay-gw.v2_1");
  });
  it.each(["../../etc", "/abs", ".", "..", "a/b", "日本", "with space", "_unrouted", "_x"])("never uses %j as a raw path", (id) => {
    const seg = appSegment(id);
    expect(seg).toMatch(/^[A-Za-z0-9._-]{1,64}$/);
    expect(seg).not.toBe(id);
    expect(seg.startsWith("_b64.") || seg === INVALID_APP).toBe(true);
    if (seg !== INVALID_APP) expect(appIdFromSegment(seg)).toBe(id);
  });
  it("routes ids too long to encode to _invalid", () => {
    expect(appSegment("é".repeat(60))).toBe(INVALID_APP);
    expect(appSegment("a".repeat(65))).toBe(INVALID_APP);
  });
});

describe("router", () => {
  const rec = (value: string, key: string | null = null, headers: Record<string, string> = {}) => ({ value: Buffer.from(value), key, headers });
  it("falls back through the configured sources in order", () => {
    const r = createRouter(parseAppIdSources("field:appId,header:X-App,key"));
    expect(r.appIdOf(rec('{"appId":"f"}', "k", { "X-App": "h" }))).toBe("f");
    expect(r.appIdOf(rec("text", "k", { "X-App": "h" }))).toBe("h");
    expect(r.appIdOf(rec("text", "k", { "x-app": "h2" }))).toBe("h2");
    expect(r.appIdOf(rec("text", "k"))).toBe("k");
    expect(r.appIdOf(rec("text", ""))).toBeUndefined();
  });
  it("files records without an id under _unrouted", () => {
    const r = createRouter(parseAppIdSources("field:appId"));
    expect(routeSegment(r, rec('{"level":"INFO"}'))).toBe(UNROUTED_APP);
    expect(routeSegment(r, rec('{"appId":"../x"}'))).toBe(appSegment("../x"));
  });
  it("rejects malformed source specs naming the problem", () => {
    expect(() => parseAppIdSources("field:")).toThrow(/expected field:<path>/);
    expect(() => parseAppIdSources("body")).toThrow(/got "body"/);
  });
});

describe("IdTable (the router's cache of app ids by their bytes)", () => {
  const bytesOf = (ids: string[]) => {
    const b = Buffer.from(ids.join(""), "utf8");
    const at: [number, number][] = [];
    let p = 0;
    for (const id of ids) {
      const n = Buffer.byteLength(id);
      at.push([p, p + n]);
      p += n;
    }
    return { b, at };
  };

  it("returns the same string for the same bytes, wherever they lie", () => {
    const table = new IdTable();
    const { b, at } = bytesOf(["app-1", "x", "app-1"]);
    const first = table.idOf(b, at[0]![0], at[0]![1]);
    expect(first).toBe("app-1");
    expect(table.idOf(b, at[2]![0], at[2]![1])).toBe(first);
    expect(table.size).toBe(1);
  });

  it("tells apart ids that share a prefix, a length or a hash slot, and decodes UTF-8", () => {
    const table = new IdTable(64);
    const ids = ["a", "ab", "ba", "abc", "acb", "支付-服务", "支付-服務", "é", "e\u0301", ...Array.from({ length: 40 }, (_, i) => `svc-${i}`)];
    const { b, at } = bytesOf([...ids, ...ids.slice().reverse()]);
    const got = at.map(([s, e]) => table.idOf(b, s, e));
    expect(got).toEqual([...ids, ...ids.slice().reverse()]);
    expect(table.size).toBe(ids.length);
  });

  it("stays right when it fills up and starts over (entries or bytes)", () => {
    // Arrange: 4 entries and 24 bytes of room, 30 ids looked up in a shuffled order many times
    const table = new IdTable(4, 24);
    const ids = Array.from({ length: 30 }, (_, i) => `app-${i}`.repeat(1 + (i % 3)));
    const order = Array.from({ length: 2000 }, (_, i) => ids[(i * 7919) % ids.length]!);
    const { b, at } = bytesOf(order);
    // Act
    const got = at.map(([s, e]) => table.idOf(b, s, e));
    // Assert
    expect(got).toEqual(order);
    expect(table.size).toBeLessThanOrEqual(4);
  });

  it("decodes an id longer than its byte room without keeping it", () => {
    const table = new IdTable(4, 8);
    const { b, at } = bytesOf(["a-very-long-app-id", "short"]);
    expect(table.idOf(b, at[0]![0], at[0]![1])).toBe("a-very-long-app-id");
    expect(table.size).toBe(0);
    expect(table.idOf(b, at[1]![0], at[1]![1])).toBe("short");
    expect(table.size).toBe(1);
  });
});
