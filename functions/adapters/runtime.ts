/**
 * Builds the injected dependencies for the FC handlers from the validated environment and the
 * invocation context, once per instance (clients are reused across invocations; the ones that
 * sign with the function's STS credentials are rebuilt when FC rotates them).
 *
 * The cloud clients come from the handler (`HandlerClients`), not from here, so each function's
 * bundle carries only the SDKs it uses: split's has no OSS client, compress's neither the OSS
 * client nor the FC SDK (smaller artifacts, less memory and load time at cold start).
 */
import { compressTask } from "../core/compress.js";
import { ConfigError, loadConfig, type PipelineConfig } from "../core/config.js";
import type { CompressInvoker, PipelineDeps } from "../core/deps.js";
import { createLogger, invocationSignals, type Logger } from "../core/logger.js";
import type { CoordStore } from "./coord-store.js";
import type { FcCredentials, FcInvokerOptions } from "./fc-invoker.js";
import { LocalObjectStore } from "./local-object-store.js";
import { MemoryCoordStore } from "./memory-coord-store.js";
import { NasDir } from "./nas.js";
import type { ObjectStore } from "./object-store.js";
import type { OssObjectStoreOptions } from "./oss-store.js";
import { RedisCoordStore } from "./redis-coord-store.js";

/** The FC 3.0 Node.js context fields logpipe reads. */
export interface FcContext {
  requestId?: string;
  credentials?: FcCredentials;
  accountId?: string;
  region?: string;
  function?: { name?: string; timeout?: number };
  /**
   * `qualifier`: the alias or version the call named; `versionId`: the version that runs
   * ("Context", Node.js runtime, https://help.aliyun.com/en/functioncompute/context-1-1, checked 2026-12-01).
   */
  service?: { qualifier?: string; versionId?: string };
}

export type FunctionName = "split" | "compress" | "upload";

/** The cloud clients a handler brings (functions/<fn>/index.ts), so only its bundle loads them. */
export interface HandlerClients {
  /** upload: the archive bucket (`new OssObjectStore(options)`) */
  oss?: (options: OssObjectStoreOptions) => ObjectStore;
  /** split, upload: async invocations of compress (`new FcInvoker(options)`) */
  fcInvoker?: (options: FcInvokerOptions) => CompressInvoker;
}

interface Instance {
  config: PipelineConfig;
  logger: Logger;
  nas: NasDir;
  coord: CoordStore;
  appCache: Map<string, number>;
  credentialsId?: string;
  objects?: ObjectStore;
  invoker?: CompressInvoker;
}

let instance: Instance | undefined;

function createInstance(fn: FunctionName, env: Record<string, string | undefined>): Instance {
  const config = loadConfig(env);
  const logger = createLogger({ level: config.logLevel, base: { fn } });
  let coord: CoordStore;
  if (config.redisUrl) coord = new RedisCoordStore({ url: config.redisUrl, password: config.redisPassword });
  else if (config.invokeMode === "inline") coord = new MemoryCoordStore();
  else throw new ConfigError([{ key: "LOGPIPE_REDIS_URL", message: "required (redis://host:port) unless LOGPIPE_INVOKE_MODE=inline" }]);
  return { config, logger, nas: new NasDir(config.nasRoot, config.fsync), coord, appCache: new Map() };
}

function objectStoreFor(fn: FunctionName, inst: Instance, ctx: FcContext, clients: HandlerClients): ObjectStore {
  const { config } = inst;
  if (config.objectDir) return (inst.objects ??= new LocalObjectStore(config.objectDir));
  if (!config.oss.bucket) throw new ConfigError([{ key: "LOGPIPE_OSS_BUCKET", message: "required for upload (or set LOGPIPE_OBJECT_DIR for a local directory)" }]);
  if (!clients.oss) throw new Error(`the ${fn} handler was defined without an OSS client`);
  const creds = ctx.credentials ?? envCredentials();
  if (!creds) throw new Error("no credentials: FC passes the function role's STS credentials in the context; locally set ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET");
  if (!inst.objects || inst.credentialsId !== creds.accessKeyId + (creds.securityToken ?? "")) {
    inst.credentialsId = creds.accessKeyId + (creds.securityToken ?? "");
    inst.objects = clients.oss({
      bucket: config.oss.bucket,
      region: config.oss.region,
      endpoint: config.oss.endpoint,
      accessKeyId: creds.accessKeyId,
      accessKeySecret: creds.accessKeySecret,
      stsToken: creds.securityToken,
    });
  }
  return inst.objects;
}

function envCredentials(): FcCredentials | undefined {
  const id = process.env.ALIBABA_CLOUD_ACCESS_KEY_ID;
  const secret = process.env.ALIBABA_CLOUD_ACCESS_KEY_SECRET;
  return id && secret ? { accessKeyId: id, accessKeySecret: secret, securityToken: process.env.ALIBABA_CLOUD_SECURITY_TOKEN } : undefined;
}

let compressInvokerOverride: CompressInvoker | undefined;

/**
 * For `logpipe invoke`: hand split's and upload's compress invocations to this invoker instead
 * of FC or the inline call (e.g. to record them as event files, one handler per invoke).
 * `undefined` restores the default. Never set inside FC.
 */
export function setCompressInvoker(invoker: CompressInvoker | undefined): void {
  compressInvokerOverride = invoker;
}

function invokerFor(fn: FunctionName, inst: Instance, ctx: FcContext, clients: HandlerClients, deps: () => PipelineDeps): CompressInvoker {
  if (compressInvokerOverride) return compressInvokerOverride;
  if (inst.config.invokeMode === "inline") {
    return (inst.invoker ??= { invokeCompress: async (t) => void (await compressTask(deps(), t)) });
  }
  if (!clients.fcInvoker) throw new Error(`the ${fn} handler was defined without an FC invoker`);
  const creds = ctx.credentials ?? envCredentials();
  if (!creds || !ctx.accountId || !ctx.region) throw new Error("async invoke needs the FC context (credentials, accountId, region); use LOGPIPE_INVOKE_MODE=inline locally");
  return clients.fcInvoker({ accountId: ctx.accountId, region: ctx.region, functionName: inst.config.compressFunction, credentials: creds });
}

/** Dependencies for one invocation. */
function depsFor(fn: FunctionName, ctx: FcContext, clients: HandlerClients, env: Record<string, string | undefined> = process.env): PipelineDeps {
  instance ??= createInstance(fn, env);
  const inst = instance;
  const deps: PipelineDeps = {
    config: inst.config,
    nas: inst.nas,
    coord: inst.coord,
    // every line carries the FC version, so pipeline signals are countable per canary/stable version
    logger: inst.logger.child({ requestId: ctx.requestId, fcVersion: ctx.service?.versionId, fcQualifier: ctx.service?.qualifier }),
    appCache: inst.appCache,
  };
  if (fn === "upload") deps.objects = objectStoreFor(fn, inst, ctx, clients);
  if (fn === "split" || fn === "upload") deps.invoker = invokerFor(fn, inst, ctx, clients, () => deps);
  return deps;
}

/** For tests and `logpipe invoke`: forget the cached instance (closes its clients). */
export async function resetRuntime(): Promise<void> {
  const inst = instance;
  instance = undefined;
  await inst?.coord.close();
}

/**
 * A thin FC handler: parse nothing itself, build deps, run the core function, log one summary
 * line with the invocation's figures, return them as JSON. Config errors are logged with the key.
 */
export function defineHandler<R extends object>(fn: FunctionName, run: (deps: PipelineDeps, event: Buffer, ctx: FcContext) => Promise<R>, clients: HandlerClients = {}) {
  return async (event: Buffer, context: FcContext = {}): Promise<string> => {
    let deps: PipelineDeps;
    try {
      deps = depsFor(fn, context, clients);
    } catch (e) {
      if (e instanceof ConfigError) console.error(JSON.stringify({ level: "error", fn, msg: e.message, issues: e.issues }));
      throw e;
    }
    try {
      const result = await run(deps, event, context);
      deps.logger.info({ ...(result as Record<string, unknown>), metrics: invocationSignals(fn, result) }, `${fn} done`);
      return JSON.stringify(result);
    } catch (e) {
      deps.logger.error({ err: (e as Error).message, name: (e as Error).name }, `${fn} failed`);
      throw e;
    }
  };
}
