/**
 * Health metrics of one FC function version, from CloudMonitor. Names, namespace and dimensions
 * come from infra/fc-metrics.ts, the definition the alarms use too (doc URLs there).
 *
 * CloudMonitor has no percentile for FC; `p99EstimateMs` is the 99th percentile of the per-period
 * maxima (LatencyMax), which bounds the request p99 from above when traffic is spread evenly
 * over the periods. It is labelled an estimate everywhere it is shown.
 */
import { ConfigError, OpsError } from "./errors.js";
import {
  FC_METRICS as CATALOG, FC_NAMESPACE, KAFKA_LAG, KAFKA_NAMESPACE, PIPELINE_SIGNALS, fcDimensions, kafkaLagDimensions, signalSql, type PipelineSignalKey,
} from "../../infra/fc-metrics.js";

export { FC_NAMESPACE };
/** The per-qualifier metric names the gate reads. */
export const FC_METRICS = {
  invocations: CATALOG.invocations.qualifier,
  functionErrors: CATALOG.functionErrors.qualifier,
  serverErrors: CATALOG.serverErrors.qualifier,
  latencyAvg: CATALOG.latencyAvg.qualifier,
  latencyMax: CATALOG.latencyMax.qualifier,
} as const;

export interface MetricQuery {
  region: string;
  functionName: string;
  /** FC version id (the alias weights name versions). */
  qualifier: string;
  startMs: number;
  endMs: number;
  periodSec: number;
}

export interface VersionMetrics {
  invocations: number;
  /** Function errors + server errors (client errors are the caller's fault and are not counted). */
  errors: number;
  avgLatencyMs: number | null;
  maxLatencyMs: number | null;
  p99EstimateMs: number | null;
  /** Number of periods that reported data. */
  periods: number;
}

/** The pipeline's own signals of one FC version over a window (sums of the functions' log metrics). */
export interface PipelineSignals {
  /** summary lines of the version in SLS (0 while FC counts invocations: its lines are missing, the signals unknown) */
  invocations: number;
  records: number;
  unrouted: number;
  deadLetters: number;
  slotWaits: number;
}

export interface SignalQuery {
  region: string;
  /** SLS project and logstore the functions log to (stack output logProject; logstore "functions") */
  logProject: string;
  logstore: string;
  /** logpipe function (split, compress, upload) */
  fn: string;
  /** FC version id */
  version: string;
  startMs: number;
  endMs: number;
}

export interface LagQuery {
  region: string;
  instanceId: string;
  consumerGroup: string;
  startMs: number;
  endMs: number;
  periodSec: number;
}

export interface MetricSource {
  readonly name: string;
  versionMetrics(q: MetricQuery): Promise<VersionMetrics>;
  /** the functions' own signals per FC version (SLS); absent when the source has none */
  pipelineSignals?(q: SignalQuery): Promise<PipelineSignals>;
  /** unconsumed messages of the trigger's consumer group over the window (CloudMonitor acs_kafka) */
  consumerLag?(q: LagQuery): Promise<Datapoint[]>;
}

/** Which signals a function logs (infra/fc-metrics.ts PIPELINE_SIGNALS). */
export function signalsOf(fn: string): PipelineSignalKey[] {
  return (Object.keys(PIPELINE_SIGNALS) as PipelineSignalKey[]).filter((k) => (PIPELINE_SIGNALS[k].functions as readonly string[]).includes(fn));
}

export interface Datapoint { timestamp: number; value: number }

/** Minimal client surface (so tests can stub the SDK). */
export interface CmsLikeClient {
  describeMetricList(req: Record<string, unknown>): Promise<{ body?: { code?: string; success?: boolean; message?: string; datapoints?: string; nextToken?: string } }>;
}

export class CmsMetricSource implements MetricSource {
  readonly name = "cloudmonitor";
  constructor(private readonly client: CmsLikeClient, private readonly requestFactory: (m: Record<string, unknown>) => Record<string, unknown> = (m) => m) {}

  /** Builds a client from ALIBABA_CLOUD_ACCESS_KEY_ID / _SECRET (+ optional STS token); never logs them. */
  static async fromEnv(region: string, env: NodeJS.ProcessEnv = process.env): Promise<CmsMetricSource> {
    const id = env.ALIBABA_CLOUD_ACCESS_KEY_ID, secret = env.ALIBABA_CLOUD_ACCESS_KEY_SECRET;
    if (!id || !secret) throw new OpsError("CloudMonitor credentials missing: set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET (and ALIBABA_CLOUD_SECURITY_TOKEN for STS)");
    const cmsMod = (await import("@alicloud/cms20190101")) as unknown as Record<string, unknown> & { default: unknown };
    const core = (await import("@alicloud/openapi-core")) as unknown as { $OpenApiUtil: { Config: new (m: Record<string, unknown>) => unknown } };
    const Client = ((cmsMod.default as { default?: unknown }).default ?? cmsMod.default) as new (c: unknown) => CmsLikeClient;
    const Req = (cmsMod.DescribeMetricListRequest ?? (cmsMod.default as Record<string, unknown>).DescribeMetricListRequest) as new (m: Record<string, unknown>) => Record<string, unknown>;
    const config = new core.$OpenApiUtil.Config({
      accessKeyId: id, accessKeySecret: secret, securityToken: env.ALIBABA_CLOUD_SECURITY_TOKEN,
      regionId: region, endpoint: env.LOGPIPE_CMS_ENDPOINT || `metrics.${region}.aliyuncs.com`,
    });
    return new CmsMetricSource(new Client(config), (m) => new Req(m));
  }

  series(q: MetricQuery, metricName: string): Promise<Datapoint[]> {
    return this.raw(FC_NAMESPACE, metricName, fcDimensions(q.region, q.functionName, q.qualifier), q);
  }

  /** Kafka consumer lag of the group (namespace acs_kafka; metric name: see KAFKA_LAG, not verified). */
  consumerLag(q: LagQuery, metricName = KAFKA_LAG.metric): Promise<Datapoint[]> {
    return this.raw(KAFKA_NAMESPACE, metricName, kafkaLagDimensions(q.instanceId, q.consumerGroup), q);
  }

  private async raw(namespace: string, metricName: string, dims: Record<string, string>, q: { region: string; startMs: number; endMs: number; periodSec: number }): Promise<Datapoint[]> {
    const out: Datapoint[] = [];
    let nextToken: string | undefined;
    let pages = 0;
    do {
      let body;
      try {
        const res = await this.client.describeMetricList(this.requestFactory({
          namespace,
          metricName,
          regionId: q.region,
          dimensions: JSON.stringify(dims),
          period: String(q.periodSec),
          startTime: String(q.startMs),
          endTime: String(q.endMs),
          length: "1440",
          nextToken,
        }));
        body = res.body;
      } catch (e) {
        throw new OpsError(`CloudMonitor DescribeMetricList ${metricName} failed: ${redact((e as Error).message)}`);
      }
      if (!body || body.success === false || (body.code && body.code !== "200")) {
        throw new OpsError(`CloudMonitor DescribeMetricList ${metricName} failed: ${body?.code ?? "no response"} ${redact(body?.message ?? "")}`.trim());
      }
      out.push(...parseDatapoints(body.datapoints));
      nextToken = body.nextToken || undefined;
    } while (nextToken && ++pages < 50);
    return out;
  }

  async versionMetrics(q: MetricQuery): Promise<VersionMetrics> {
    const [inv, fe, se, avg, max] = await Promise.all([
      this.series(q, FC_METRICS.invocations), this.series(q, FC_METRICS.functionErrors), this.series(q, FC_METRICS.serverErrors),
      this.series(q, FC_METRICS.latencyAvg), this.series(q, FC_METRICS.latencyMax),
    ]);
    return aggregate(inv, [...fe, ...se], avg, max);
  }
}

/** CloudMonitor returns Datapoints as a JSON string; values may be in Value/Sum/Average/Maximum. */
export function parseDatapoints(raw: string | undefined): Datapoint[] {
  if (!raw) return [];
  let arr: unknown;
  try { arr = JSON.parse(raw); } catch { throw new OpsError("CloudMonitor returned unparseable Datapoints"); }
  if (!Array.isArray(arr)) return [];
  const out: Datapoint[] = [];
  for (const p of arr as Record<string, unknown>[]) {
    const v = p.Value ?? p.value ?? p.Sum ?? p.Average ?? p.Maximum;
    const t = Number(p.timestamp ?? p.Timestamp);
    if (v === undefined || v === null || !Number.isFinite(Number(v)) || !Number.isFinite(t)) continue;
    out.push({ timestamp: t, value: Number(v) });
  }
  return out;
}

export function aggregate(inv: Datapoint[], errs: Datapoint[], avg: Datapoint[], max: Datapoint[]): VersionMetrics {
  const invocations = inv.reduce((s, p) => s + p.value, 0);
  const errors = errs.reduce((s, p) => s + p.value, 0);
  const invAt = new Map(inv.map((p) => [p.timestamp, p.value]));
  let wsum = 0, w = 0;
  for (const p of avg) {
    const weight = invAt.get(p.timestamp) ?? 0;
    if (weight > 0) { wsum += p.value * weight; w += weight; }
  }
  const avgLatencyMs = w > 0 ? wsum / w : avg.length ? avg.reduce((s, p) => s + p.value, 0) / avg.length : null;
  const maxima = max.map((p) => p.value).sort((a, b) => a - b);
  const maxLatencyMs = maxima.length ? maxima[maxima.length - 1]! : null;
  const p99EstimateMs = maxima.length ? maxima[Math.min(maxima.length - 1, Math.ceil(0.99 * maxima.length) - 1)]! : null;
  return { invocations, errors, avgLatencyMs, maxLatencyMs, p99EstimateMs, periods: new Set(inv.map((p) => p.timestamp)).size };
}

function redact(s: string): string {
  return s.replace(/(AccessKey(?:Id|Secret)?|Signature|SecurityToken)=[^&\s]+/gi, "$1=***");
}

/** The SLS GetLogs call the signal source makes (the SDK's client is adapted to it). */
export interface SlsLikeClient {
  getLogs(project: string, logstore: string, req: { from: number; to: number; query: string }): Promise<Record<string, unknown>[]>;
}

/**
 * The pipeline's signals from the functions' logs in SLS: one GetLogs analytic query per signal
 * (infra/fc-metrics.ts signalSql), summed over the window for one FC version.
 */
export class SlsSignalSource {
  readonly name = "sls";
  constructor(private readonly client: SlsLikeClient) {}

  /**
   * Builds a client with @alicloud/sls20201230 (a dependency, loaded only when asked for, so the
   * CLI's start-up does not pay for it); if it is missing from an install, this throws a
   * ConfigError saying how to add it.
   */
  static async fromEnv(region: string, env: NodeJS.ProcessEnv = process.env): Promise<SlsSignalSource> {
    const id = env.ALIBABA_CLOUD_ACCESS_KEY_ID, secret = env.ALIBABA_CLOUD_ACCESS_KEY_SECRET;
    if (!id || !secret) throw new ConfigError("SLS credentials missing: set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET");
    const pkg = "@alicloud/sls20201230";
    let mod: Record<string, any>;
    try {
      mod = (await import(pkg)) as Record<string, any>;
    } catch {
      throw new ConfigError(`the pipeline-signal gate reads SLS with ${pkg}, which is not installed: npm install ${pkg} (or run the gate with --signals off)`);
    }
    const m = mod.default?.default ? mod.default : mod;
    const core = (await import("@alicloud/openapi-core")) as unknown as { $OpenApiUtil: { Config: new (o: Record<string, unknown>) => unknown } };
    const client = new (m.default ?? m.Client)(new core.$OpenApiUtil.Config({ accessKeyId: id, accessKeySecret: secret, securityToken: env.ALIBABA_CLOUD_SECURITY_TOKEN, endpoint: env.LOGPIPE_SLS_ENDPOINT || `${region}.log.aliyuncs.com` }));
    return new SlsSignalSource({
      async getLogs(project, logstore, req) {
        const res = await client.getLogs(project, logstore, new m.GetLogsRequest({ from: req.from, to: req.to, query: req.query }));
        return (res.body ?? []) as Record<string, unknown>[];
      },
    });
  }

  async pipelineSignals(q: SignalQuery): Promise<PipelineSignals> {
    const out: PipelineSignals = { invocations: 0, records: 0, unrouted: 0, deadLetters: 0, slotWaits: 0 };
    for (const key of signalsOf(q.fn)) {
      const query = signalSql(key, { fn: q.fn, version: q.version });
      let rows: Record<string, unknown>[];
      try {
        rows = await this.client.getLogs(q.logProject, q.logstore, { from: Math.floor(q.startMs / 1000), to: Math.ceil(q.endMs / 1000), query });
      } catch (e) {
        throw new OpsError(`SLS GetLogs ${q.logProject}/${q.logstore} (${PIPELINE_SIGNALS[key].metric}) failed: ${redact((e as Error).message)}`);
      }
      const v = Number(rows[0]?.value ?? 0);
      if (!Number.isFinite(v)) throw new OpsError(`SLS GetLogs ${PIPELINE_SIGNALS[key].metric}: unexpected value ${JSON.stringify(rows[0]?.value)}`);
      out[key] = v;
    }
    return out;
  }
}

/** FC metrics and Kafka lag from CloudMonitor, the pipeline's signals from SLS. */
export class CombinedMetricSource implements MetricSource {
  readonly name: string;
  constructor(private readonly cms: CmsMetricSource, private readonly sls?: SlsSignalSource) {
    this.name = sls ? "cloudmonitor+sls" : "cloudmonitor";
  }
  versionMetrics(q: MetricQuery): Promise<VersionMetrics> { return this.cms.versionMetrics(q); }
  consumerLag(q: LagQuery): Promise<Datapoint[]> { return this.cms.consumerLag(q); }
  get pipelineSignals(): ((q: SignalQuery) => Promise<PipelineSignals>) | undefined {
    return this.sls ? (q) => this.sls!.pipelineSignals(q) : undefined;
  }
}

/**
 * A scripted metric source for tests and `--metrics fake:<scenario>`: each qualifier follows a
 * scenario (healthy, failing, no-traffic, slow, error) or a function of the query.
 */
export type Scenario = "healthy" | "failing" | "no-traffic" | "slow" | "error";

export class FakeMetricSource implements MetricSource {
  readonly name = "fake";
  readonly queries: MetricQuery[] = [];
  readonly signalQueries: SignalQuery[] = [];
  readonly lagQueries: LagQuery[] = [];
  pipelineSignals?: (q: SignalQuery) => Promise<PipelineSignals>;
  consumerLag?: (q: LagQuery) => Promise<Datapoint[]>;
  constructor(
    private readonly byQualifier: (q: MetricQuery) => Scenario | VersionMetrics,
    scripted: { signals?: (q: SignalQuery) => PipelineSignals; lag?: (q: LagQuery) => Datapoint[] } = {},
  ) {
    if (scripted.signals) this.pipelineSignals = async (q) => (this.signalQueries.push({ ...q }), scripted.signals!(q));
    if (scripted.lag) this.consumerLag = async (q) => (this.lagQueries.push({ ...q }), scripted.lag!(q));
  }

  static scenario(canary: Scenario, stable: Scenario = "healthy", stableQualifier?: string): FakeMetricSource {
    return new FakeMetricSource((q) => (stableQualifier !== undefined && q.qualifier === stableQualifier ? stable : canary));
  }

  async versionMetrics(q: MetricQuery): Promise<VersionMetrics> {
    this.queries.push({ ...q });
    const s = this.byQualifier(q);
    if (typeof s !== "string") return s;
    const minutes = Math.max(1, Math.round((q.endMs - q.startMs) / 60_000));
    switch (s) {
      case "healthy": return { invocations: 120 * minutes, errors: 0, avgLatencyMs: 180, maxLatencyMs: 900, p99EstimateMs: 850, periods: minutes };
      case "failing": return { invocations: 120 * minutes, errors: 12 * minutes, avgLatencyMs: 200, maxLatencyMs: 1200, p99EstimateMs: 1100, periods: minutes };
      case "slow": return { invocations: 120 * minutes, errors: 0, avgLatencyMs: 2500, maxLatencyMs: 9000, p99EstimateMs: 8800, periods: minutes };
      case "no-traffic": return { invocations: 0, errors: 0, avgLatencyMs: null, maxLatencyMs: null, p99EstimateMs: null, periods: 0 };
      case "error": throw new OpsError("CloudMonitor DescribeMetricList FunctionQualifierTotalInvocations failed: Throttling.User Request was denied due to user flow control");
    }
  }
}
