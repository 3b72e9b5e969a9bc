/**
 * Policies over what each stack would create, from `planStack` (the program run under Pulumi
 * mocks in a child process, once per stack — which also proves planStack can be called
 * repeatedly and concurrently in one process). Inputs arrive with secrets masked as "[secret]".
 */
import { beforeAll, describe, expect, it } from "vitest";
import { envSchema } from "../../functions/core/config.js";
import { NAS_CONCURRENCY } from "../../functions/core/deps.js";
import { cidrContains, isPrivateCidr, parseStackConfig, type StackConfig } from "../../infra/config.js";
import { policyViolations, type PolicyDocument } from "../../infra/util.js";
import { checkAll, RESOURCE_TYPES } from "../../infra/rules.js";
import { MASK, MOCK_ACCOUNT_ID, MOCK_REDIS_PASSWORD } from "../../cli/plan/mocks.js";
import { planStack, planStackDetailed, type PlannedResource } from "../../cli/plan/index.js";
import { STACKS, rawStack } from "./helpers.js";
import { KAFKA_LAG, KAFKA_NAMESPACE, PIPELINE_SIGNALS, kafkaLagDimensions, signalSql, type PipelineSignalKey } from "../../infra/fc-metrics.js";

/**
 * The columns an SLS analytic statement reads: its identifiers, less string literals, function
 * names (followed by "("), SQL keywords and what follows AS (a type in CAST or an output name).
 */
function sqlColumns(sql: string): string[] {
  const KEYWORDS = new Set(["select", "from", "where", "and", "or", "not", "as", "is", "null", "in", "group", "by", "order", "limit", "having", "case", "when", "then", "else", "end", "true", "false", "log"]);
  const text = sql.replace(/'(?:[^']|'')*'/g, "''");
  const out = new Set<string>();
  const re = /"([^"]+)"|([A-Za-z_][A-Za-z0-9_.]*)/g;
  let prev = "";
  for (let m; (m = re.exec(text)); ) {
    const word = m[1] ?? m[2]!;
    const isFn = m[2] !== undefined && /^\s*\(/.test(text.slice(re.lastIndex));
    if (!isFn && !KEYWORDS.has(word.toLowerCase()) && prev !== "as") out.add(word);
    prev = word.toLowerCase();
  }
  return [...out];
}

type Plan = { resources: PlannedResource[]; outputs: Record<string, any>; cfg: StackConfig };
const plans = {} as Record<(typeof STACKS)[number], Plan>;

const T = RESOURCE_TYPES;

const ofType = (p: Plan, type: string) => p.resources.filter((r) => r.type === type);
const one = (p: Plan, type: string) => {
  const rs = ofType(p, type);
  expect(rs, type).toHaveLength(1);
  return rs[0]!;
};

beforeAll(async () => {
  const results = await Promise.all(STACKS.map((s) => planStackDetailed(s, { artifacts: "placeholder" })));
  STACKS.forEach((s, i) => (plans[s] = { resources: results[i]!.resources, outputs: results[i]!.outputs, cfg: parseStackConfig(rawStack(s), s) }));
}, 240_000);

describe.each(STACKS)("stack %s", (stack) => {
  const p = () => plans[stack];

  it("archive bucket is private, encrypted and blocks public access", () => {
    const bucket = one(p(), T.bucket);
    const name = bucket.inputs.bucket as string;
    expect(name).toBe(p().outputs.bucketName);
    expect(bucket.inputs.acl).toBeUndefined(); // no canned ACL on the bucket itself …
    expect(bucket.inputs.policy).toBeUndefined(); // … and no bucket policy
    expect((bucket.inputs.serverSideEncryptionRule as any)?.sseAlgorithm).toMatch(/^(AES256|KMS)$/);
    const acl = one(p(), T.bucketAcl);
    expect(acl.inputs).toMatchObject({ bucket: name, acl: "private" });
    expect(one(p(), T.publicBlock).inputs).toMatchObject({ bucket: name, blockPublicAccess: true });
    const rules = bucket.inputs.lifecycleRules as any[];
    const lc = p().cfg.archive.lifecycle;
    const tiering = rules.find((r) => r.id === "logpipe-tiering");
    if (lc.expireAfterDays) expect(tiering.expirations[0].days).toBe(lc.expireAfterDays);
    if (lc.iaAfterDays) expect(tiering.transitions[0]).toEqual({ days: lc.iaAfterDays, storageClass: "IA" });
    if (lc.archiveAfterDays) expect(tiering.transitions.at(-1)).toEqual({ days: lc.archiveAfterDays, storageClass: "Archive" });
    expect(rules.every((r) => r.prefix === `${p().cfg.archive.prefix}/`)).toBe(true);
    expect(rules.some((r) => r.abortMultipartUploads?.[0]?.days > 0)).toBe(true);
  });

  it("Redis is reachable only from the VPC and its password is a secret absent from outputs", () => {
    const redis = one(p(), T.redis);
    expect(ofType(p(), T.redisConn)).toHaveLength(0); // no public connection string
    expect(redis.inputs.enablePublic).toBeUndefined();
    expect(redis.inputs.vpcAuthMode).toBe("Open");
    expect(redis.inputs.vswitchId).toBeTruthy();
    const ips = redis.inputs.securityIps as string[];
    const cidrs = (p().cfg.network.create?.vswitches ?? p().cfg.network.existing!.vswitches).map((v) => v.cidr);
    expect(ips.length).toBeGreaterThan(0);
    for (const ip of ips) {
      expect(isPrivateCidr(ip), ip).toBe(true);
      expect(cidrs.some((c) => cidrContains(c, ip)), `${ip} inside a vSwitch`).toBe(true);
    }
    expect(redis.inputs.password).toBe(MASK);
    const outputs = JSON.stringify(p().outputs);
    expect(outputs).not.toContain(MOCK_REDIS_PASSWORD);
    expect(outputs.toLowerCase()).not.toContain("password");
    expect(p().outputs.redisHost).toMatch(/redis/);
    // nothing outside the masked inputs carries the password either
    expect(JSON.stringify(p().resources)).not.toContain(MOCK_REDIS_PASSWORD);
  });

  it("every RAM policy is scoped: no * action, no * resource", () => {
    const policies = ofType(p(), T.policy);
    expect(policies).toHaveLength(3);
    for (const pol of policies) {
      const doc = JSON.parse(pol.inputs.policyDocument as string) as PolicyDocument;
      expect(policyViolations(doc, pol.name)).toEqual([]);
      for (const s of doc.Statement) {
        expect(s.Action).not.toContain("*");
        expect(s.Resource).not.toContain("*");
        for (const r of s.Resource) expect(r).toMatch(new RegExp(`${MOCK_ACCOUNT_ID}|acs:oss:\\*:\\*:${p().outputs.bucketName}`));
      }
    }
    const docOf = (fn: string) => JSON.parse(policies.find((x) => x.name.includes(`-${fn}-`))!.inputs.policyDocument as string) as PolicyDocument;
    const actions = (fn: string) => docOf(fn).Statement.flatMap((s) => s.Action);
    expect(actions("split")).toContain("fc:InvokeFunction");
    expect(actions("split").some((a) => a.startsWith("oss:"))).toBe(false);
    expect(actions("compress").some((a) => a.startsWith("oss:") || a.startsWith("fc:"))).toBe(false);
    // upload writes objects under the archive prefix only
    const ossObjects = docOf("upload").Statement.filter((s) => s.Action.includes("oss:PutObject"));
    expect(ossObjects.flatMap((s) => s.Resource)).toEqual([`acs:oss:*:*:${p().outputs.bucketName}/${p().cfg.archive.prefix}/*`]);
    // roles trust FC only, each has its policy attached
    for (const role of ofType(p(), T.role)) {
      const trust = JSON.parse(role.inputs.assumeRolePolicyDocument as string);
      expect(trust.Statement.map((s: any) => s.Principal.Service).flat()).toEqual(["fc.aliyuncs.com"]);
    }
    expect(ofType(p(), T.attach).map((a) => a.inputs.policyType)).toEqual(["Custom", "Custom", "Custom"]);
  });

  it("functions run in the VPC with NAS mounted, logs to SLS, no internet, own role", () => {
    const mount = one(p(), T.mount);
    const fns = ofType(p(), T.fn);
    expect(fns.map((f) => f.inputs.functionName).sort()).toEqual(Object.values(p().outputs.functionNames).sort());
    for (const f of fns) {
      const vpc = f.inputs.vpcConfig as any;
      expect(vpc.vpcId).toBe(p().outputs.vpcId);
      expect(vpc.vswitchIds.length).toBeGreaterThan(0);
      expect(vpc.securityGroupId).toBeTruthy();
      const nas = f.inputs.nasConfig as any;
      expect(nas.mountPoints).toHaveLength(1);
      expect(nas.mountPoints[0].serverAddr).toBe(`${p().outputs.nasMountTarget}:${p().cfg.nas.remoteDir}`);
      expect(nas.mountPoints[0].mountDir).toBe(p().cfg.nas.mountDir);
      expect(mount.inputs.vpcId).toBe(p().outputs.vpcId);
      expect(f.inputs.internetAccess).toBe(false);
      expect(f.inputs.role).toMatch(/^acs:ram::/);
      expect((f.inputs.logConfig as any).logstore).toBeTruthy();
      expect(f.inputs.runtime).toBe("nodejs20");
      expect(f.inputs.handler).toBe("index.handler");
      expect((f.inputs.code as any).checksum).toMatch(/^\d{1,20}$/); // FC verifies the code's CRC-64, inline or from OSS
    }
    // NAS admits only the vSwitch CIDRs
    const cidrs = (p().cfg.network.create?.vswitches ?? p().cfg.network.existing!.vswitches).map((v) => v.cidr).sort();
    expect(ofType(p(), T.accessRule).map((r) => r.inputs.sourceCidrIp).sort()).toEqual(cidrs);
  });

  it("function environments satisfy the handlers' schema and never carry the password in clear", () => {
    const names = p().outputs.functionNames as Record<string, string>;
    for (const f of ofType(p(), T.fn)) {
      const kind = (Object.entries(names).find(([, n]) => n === f.inputs.functionName)![0]) as "split" | "compress" | "upload";
      const env = f.inputs.environmentVariables as Record<string, string>;
      expect(env.LOGPIPE_REDIS_PASSWORD).toBe(MASK);
      expect(env.LOGPIPE_REDIS_URL).toMatch(/^redis:\/\/[^:@]+:6379\/0$/); // no credentials in the URL
      expect(env.LOGPIPE_NAS_ROOT).toBe(p().cfg.nas.mountDir);
      expect(env.LOGPIPE_OSS_BUCKET).toBe(p().outputs.bucketName);
      expect(env.LOGPIPE_OSS_ENDPOINT).toBe(`https://oss-${p().cfg.region}-internal.aliyuncs.com`);
      expect(env.LOGPIPE_COMPRESS_FUNCTION).toBe(`${names.compress}:live`);
      expect(env.LOGPIPE_FUNCTION_TIMEOUT).toBe(`${f.inputs.timeout}s`);
      expect(env.LOGPIPE_FUNCTION_TIMEOUT).toBe(`${p().cfg.functions[kind].timeoutSeconds}s`);
      const parsed = envSchema.safeParse({ ...env, LOGPIPE_REDIS_PASSWORD: "x" });
      expect(parsed.success, JSON.stringify(parsed.error?.issues)).toBe(true);
      expect(parsed.data!.LOGPIPE_LOCK_TTL).toBeGreaterThan(parsed.data!.LOGPIPE_FUNCTION_TIMEOUT);
      expect(env.NODE_OPTIONS).toContain("--enable-source-maps");
    }
  });

  it("upload paces its OSS requests under the 2,000 a second OSS allows an account on sequentially named objects", () => {
    const names = p().outputs.functionNames as Record<string, string>;
    const upload = ofType(p(), T.fn).find((f) => f.inputs.functionName === names.upload)!;
    const parsed = envSchema.parse({ ...(upload.inputs.environmentVariables as Record<string, string>), LOGPIPE_REDIS_PASSWORD: "x" });
    expect(parsed.LOGPIPE_UPLOAD_REQUESTS_PER_SECOND).toBeLessThan(2000);
    // enough in flight to reach that pace at OSS's 100 ms per small PUT (else the wave waits longer)
    expect(parsed.LOGPIPE_UPLOAD_CONCURRENCY * 10).toBeGreaterThanOrEqual(parsed.LOGPIPE_UPLOAD_REQUESTS_PER_SECOND);
  });

  it("split runs with a 16 MB young generation (per semi-space, stated) and two malloc arenas, the settings its bench peak RSS is measured with", () => {
    const names = p().outputs.functionNames as Record<string, string>;
    const envOf = (kind: string) => ofType(p(), T.fn).find((f) => f.inputs.functionName === names[kind])!.inputs.environmentVariables as Record<string, string>;
    expect(envOf("split").NODE_OPTIONS.split(" ")).toContain("--max-semi-space-size=16");
    expect(envOf("split").MALLOC_ARENA_MAX).toBe("2");
    // compress and upload keep Node's defaults (gzip and OSS streams, no batch held in memory)
    expect(envOf("compress").NODE_OPTIONS).not.toContain("semi-space");
    expect(envOf("upload").MALLOC_ARENA_MAX).toBeUndefined();
  });

  it("compress and upload get a libuv pool of twice the NAS operations they keep in flight, so the NAS round trips they keep in flight overlap", () => {
    const names = p().outputs.functionNames as Record<string, string>;
    const envOf = (kind: string) => ofType(p(), T.fn).find((f) => f.inputs.functionName === names[kind])!.inputs.environmentVariables as Record<string, string>;
    expect(Number(envOf("compress").UV_THREADPOOL_SIZE)).toBeGreaterThanOrEqual(2 * NAS_CONCURRENCY);
    expect(Number(envOf("upload").UV_THREADPOOL_SIZE)).toBeGreaterThanOrEqual(2 * NAS_CONCURRENCY);
  });

  it("the Kafka trigger uses the configured batch, concurrency, retries and dead letter, and targets live", () => {
    const triggers = ofType(p(), T.trigger);
    const kafka = triggers.find((t) => t.inputs.triggerType === "eventbridge")!;
    expect(kafka.inputs.qualifier).toBe("live");
    expect(kafka.inputs.functionName).toBe(p().outputs.functionNames.split);
    const c = JSON.parse(kafka.inputs.triggerConfig as string);
    const t = p().cfg.trigger;
    expect(c.eventSourceConfig.eventSourceType).toBe("Kafka");
    // FC 3.0 RunOptions has no maximumTasks; DeliveryOption has exactly concurrency + eventSchema
    expect(c.runOptions).toEqual({
      mode: "event-streaming",
      batchWindow: { CountBasedWindow: t.batchCount, TimeBasedWindow: t.batchWindowSeconds },
      retryStrategy: { PushRetryStrategy: t.retryStrategy },
      errorsTolerance: t.errorsTolerance,
      deadLetterQueue: { Arn: expect.any(String) },
    });
    expect(c.eventSinkConfig).toEqual({ deliveryOption: { concurrency: t.deliveryConcurrency, eventSchema: t.eventSchema } });
    expect(c.runOptions.deadLetterQueue.Arn).toMatch(/^acs:mns:cn-hangzhou:\d+:\/queues\/.+-dlq$/);
    const src = c.eventSourceConfig.eventSourceParameters.sourceKafkaParameters;
    expect(src).toMatchObject({ Topic: p().cfg.kafka.topic, ConsumerGroup: p().cfg.kafka.consumerGroup, OffsetReset: p().cfg.kafka.offsetReset, Network: "PublicNetwork", VpcId: p().outputs.vpcId });
    // one vSwitch id (a string, as the API documents it), not a comma-joined list
    expect(src.VSwitchIds).toBe(p().cfg.network.existing?.vswitches[0]!.id ?? "network-vsw-0-id");
    expect(c.asyncInvocationType).toBe(false);
    const timer = triggers.find((x) => x.inputs.triggerType === "timer")!;
    expect(timer.inputs.qualifier).toBe("live");
    expect(JSON.parse(timer.inputs.triggerConfig as string).cronExpression).toBe(p().cfg.pipeline.uploadSchedule);
    const asyncCfg = one(p(), T.async);
    expect(asyncCfg.inputs).toMatchObject({ functionName: p().outputs.functionNames.compress, qualifier: "live", maxAsyncRetryAttempts: p().cfg.compressAsync.maxRetryAttempts });
    expect((asyncCfg.inputs.destinationConfig as any).onFailure.destination).toMatch(/\/messages$/);
  });

  it("alias weights are in [0,1] and refer to versions published for the same function", () => {
    const versions = ofType(p(), T.version);
    const aliases = ofType(p(), T.alias);
    expect(aliases).toHaveLength(3);
    for (const a of aliases) {
      expect(a.inputs.aliasName).toBe("live");
      const fnName = a.inputs.functionName as string;
      // mock version ids are 1, 2, … per function in declaration order
      const ids = versions.filter((v) => v.inputs.functionName === fnName).map((_, i) => String(i + 1));
      expect(ids).toContain(a.inputs.versionId);
      const weights = (a.inputs.additionalVersionWeight ?? {}) as Record<string, number>;
      for (const [id, w] of Object.entries(weights)) {
        expect(ids).toContain(id);
        expect(id).not.toBe(a.inputs.versionId);
        expect(w).toBeGreaterThanOrEqual(0);
        expect(w).toBeLessThanOrEqual(1);
      }
      const kind = Object.entries(p().outputs.functionNames as Record<string, string>).find(([, n]) => n === fnName)![0];
      const rel = p().outputs.artifacts[kind];
      expect(p().outputs.aliases[kind]).toEqual({ name: "live", versionId: rel.versionId, additionalVersionWeight: rel.canary ? { [rel.canary.versionId]: rel.canary.weight } : {} });
    }
    for (const v of versions) expect(v.inputs.description).toMatch(/ sha256:[0-9a-f]{64} cfg:[0-9a-f]{16}$/);
  });

  it("alarms watch errors and throttles of every function", () => {
    const alarms = ofType(p(), T.alarm);
    expect(alarms).toHaveLength(13); // 3 functions x 4 metrics + the trigger group's consumer lag
    for (const a of alarms.filter((x) => x.inputs.project !== KAFKA_NAMESPACE)) {
      expect(a.inputs.project).toBe("acs_fc");
      expect(JSON.parse(a.inputs.metricDimensions as string)).toEqual([{ region: "cn-hangzhou", functionName: expect.stringMatching(/^logpipe-/) }]);
      expect(a.inputs.enabled).toBe(p().cfg.alarms.enabled);
    }
    expect(new Set(alarms.map((a) => a.inputs.metric))).toEqual(new Set(["FunctionFunctionErrors", "FunctionServerErrors", "FunctionConcurrencyThrottles", "FunctionResourceThrottles", KAFKA_LAG.metric]));
  });

  it("the consumer lag alarm watches the trigger's group with the definition the canary gate reads", () => {
    const lag = ofType(p(), T.alarm).filter((a) => a.inputs.project === KAFKA_NAMESPACE);
    expect(lag).toHaveLength(1);
    const trigger = p().outputs.kafka as { instanceId: string; consumerGroup: string };
    expect(trigger.instanceId).toBeTruthy();
    expect(trigger.consumerGroup).toBeTruthy();
    expect(lag[0]!.inputs).toMatchObject({
      project: "acs_kafka", // infra/fc-metrics.ts KAFKA_NAMESPACE, spelled out so a change there is seen here
      metric: KAFKA_LAG.metric,
      enabled: p().cfg.alarms.enabled,
      escalationsCritical: { statistics: KAFKA_LAG.statistic, comparisonOperator: ">=", threshold: "100000" },
    });
    expect(JSON.parse(lag[0]!.inputs.metricDimensions as string)).toEqual([kafkaLagDimensions(trigger.instanceId, trigger.consumerGroup)]);
  });

  it("the functions' logstore indexes, with analytics, every field the pipeline-signal SQL reads", () => {
    const index = one(p(), "alicloud:log/storeIndex:StoreIndex");
    const fields = (index.inputs.fieldSearches ?? []) as { name: string; type?: string; enableAnalytics?: boolean }[];
    const full = index.inputs.fullText as { token: string } | undefined;
    expect(full, "full-text index (the search part before `|`)").toBeTruthy();
    expect(index.inputs.maxTextLen).toBe(16384);
    for (const key of Object.keys(PIPELINE_SIGNALS) as PipelineSignalKey[]) {
      const s = PIPELINE_SIGNALS[key];
      for (const fn of s.functions) {
        const query = signalSql(key, { fn, version: "1" });
        const [search, sql] = query.split(" | ");
        // the search term is one token of the full-text index (not split by its delimiters)
        expect([...search!].filter((c) => full!.token.includes(c)), `${key}: "${search}"`).toEqual([]);
        const cols = sqlColumns(sql!);
        expect(cols.length, sql).toBeGreaterThan(0);
        for (const col of cols) {
          const f = fields.find((x) => x.name === col);
          expect(f, `${key} reads "${col}", which has no field index`).toBeTruthy();
          expect(f!.enableAnalytics, `${col}: analytics`).toBe(true);
          // json_extract_scalar reads a text (JSON string) column; a long/double index has no text
          expect(f!.type, `${col}: type`).toBe("text");
        }
      }
    }
  });

  it("outputs carry what operators and the other commands read", () => {
    const o = p().outputs;
    for (const k of ["artifacts", "aliases", "bucketName", "functionNames", "redisHost", "nasMountTarget"]) expect(o[k], k).toBeTruthy();
    for (const fn of ["split", "compress", "upload"]) {
      expect(o.artifacts[fn].digest).toMatch(/^sha256:[0-9a-f]{64}$/);
      if (p().cfg.release) expect(o.artifacts[fn].digest).toBe(p().cfg.release![fn as "split"].stable);
    }
  });
});

describe("grey release across stacks", () => {
  it("no shipped stack runs a canary (a canary is added to a deployed stack by logpipe canary); one version per function", () => {
    for (const stack of STACKS) {
      for (const fn of ["split", "compress", "upload"]) expect(plans[stack].outputs.aliases[fn].additionalVersionWeight).toEqual({});
      expect(ofType(plans[stack], T.version)).toHaveLength(3);
    }
  });

  it("pinned stacks reference code by OSS object, dev inlines what it built", () => {
    for (const stack of ["staging", "prod"] as const) {
      for (const f of ofType(plans[stack], T.fn)) {
        const code = f.inputs.code as any;
        expect(code.ossBucketName).toBe("logpipe-artifacts-cnhz");
        const digest = /sha256:[0-9a-f]{64}/.exec(code.ossObjectName)![0];
        expect(code.checksum).toBe(plans[stack].cfg.artifacts[digest]!.checksum);
      }
    }
    for (const f of ofType(plans.dev, T.fn)) expect((f.inputs.code as any).zipFile).toMatch(/^\[zip, \d+ bytes\]$/);
    expect(plans.dev.outputs.builtFromSource).toBe(true);
  });

  it("planStack is repeatable in one process and gives the same plan twice", async () => {
    const again = await planStack("prod", { artifacts: "placeholder" });
    expect(again).toEqual(plans.prod.resources);
    expect(again.every((r) => r.urn?.startsWith("urn:pulumi:prod::logpipe::"))).toBe(true);
  }, 120_000);

  it("planStack reports a config error with its key, and honours --config-file", async () => {
    const { mkdtempSync, writeFileSync } = await import("node:fs");
    const { stringify } = await import("yaml");
    const os = await import("node:os");
    const path = await import("node:path");
    const dir = mkdtempSync(path.join(os.tmpdir(), "logpipe-cfg-"));
    const raw = rawStack("prod") as Record<string, any>;
    raw["logpipe:trigger"].batchWindowSeconds = 99;
    const bad = path.join(dir, "bad.yaml");
    writeFileSync(bad, stringify({ config: raw }));
    await expect(planStack("prod", { configFile: bad, artifacts: "placeholder" })).rejects.toMatchObject({ kind: "config", message: expect.stringContaining("logpipe:trigger.batchWindowSeconds") });
    raw["logpipe:trigger"].batchWindowSeconds = 2;
    const good = path.join(dir, "good.yaml");
    writeFileSync(good, stringify({ config: raw }));
    const r = await planStack("prod", { configFile: good, artifacts: "placeholder" });
    const kafka = r.find((x) => x.type === T.trigger && x.inputs.triggerType === "eventbridge")!;
    expect(JSON.parse(kafka.inputs.triggerConfig as string).runOptions.batchWindow.TimeBasedWindow).toBe(2);
  }, 120_000);
});

describe("the policy pack's rules (infra/rules.ts)", () => {
  it("pass on every stack", () => {
    for (const s of STACKS) expect(checkAll(plans[s].resources, { secretsMasked: true }), s).toEqual([]);
  });

  it("catch what they are for", () => {
    const rs = structuredClone(plans.staging.resources) as { type: string; name: string; inputs: Record<string, any> }[];
    const find = (t: string, pred: (r: any) => boolean = () => true) => rs.find((r) => r.type === t && pred(r))!;
    find(T.bucketAcl).inputs.acl = "public-read";
    rs.splice(rs.indexOf(find(T.publicBlock)), 1);
    find(T.redis).inputs.securityIps = ["0.0.0.0/0"];
    find(T.redis).inputs.password = "plain";
    const pol = find(T.policy);
    const doc = JSON.parse(pol.inputs.policyDocument);
    doc.Statement[0].Action = ["fc:*"];
    doc.Statement[0].Resource = ["*"];
    pol.inputs.policyDocument = JSON.stringify(doc);
    delete find(T.fn).inputs.nasConfig;
    find(T.trigger).inputs.qualifier = "LATEST";
    find(T.alias).inputs.additionalVersionWeight = { "2": 1.5 };
    const rules = new Set(checkAll(rs, { secretsMasked: true }).map((v) => v.rule));
    expect(rules).toEqual(new Set(["archive-bucket-private", "redis-vpc-only", "ram-policies-scoped", "functions-in-vpc-with-nas", "invocations-target-live", "alias-weights-valid"]));
    const messages = checkAll(rs, { secretsMasked: true }).map((v) => v.violation).join("\n");
    for (const m of ["public access not blocked", "0.0.0.0/0", "password is not a secret", 'action "fc:*"', 'resource "*"', "NAS not mounted", "qualifier LATEST", "outside [0,1]"]) expect(messages).toContain(m);
  });
});
