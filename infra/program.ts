/**
 * The logpipe stack: validates config, resolves the release's artifacts, and composes the
 * components. Returns the stack outputs (never a password: see `redisHost`).
 */
import * as pulumi from "@pulumi/pulumi";
import * as alicloud from "@pulumi/alicloud";
import { PipelineAlarms as Alarms } from "./alarms.js";
import { Archive } from "./archive.js";
import { resolveRelease, type ResolveOptions } from "./artifacts.js";
import { CompressAsyncConfig } from "./async-invoke.js";
import { FUNCTION_KINDS, parseStackConfig, type Digest, type FunctionKind, type StackConfig } from "./config.js";
import { DeadLetterQueue } from "./dead-letter.js";
import { KafkaSource } from "./kafka.js";
import { KafkaTrigger } from "./kafka-trigger.js";
import { LockStore } from "./lockstore.js";
import { FunctionLogs } from "./logging.js";
import { Network } from "./network.js";
import { PipelineFunctions } from "./pipeline.js";
import { SharedStorage } from "./storage.js";
import { TimerTrigger } from "./timer-trigger.js";
import { tagsFor } from "./util.js";

export interface StackOutputs {
  stack: string;
  region: string;
  /** fn → the stable artifact and its published version (plus the canary when one is set) */
  artifacts: pulumi.Output<Record<FunctionKind, { digest: Digest; versionId: string; canary?: { digest: Digest; versionId: string; weight: number } }>>;
  /** fn → alias `live` routing */
  aliases: pulumi.Output<Record<FunctionKind, { name: string; versionId: string; additionalVersionWeight: Record<string, number> }>>;
  functionNames: pulumi.Output<Record<FunctionKind, string>>;
  bucketName: pulumi.Output<string>;
  archivePrefix: string;
  redisHost: pulumi.Output<string>;
  redisPort: pulumi.Output<number>;
  nasMountTarget: pulumi.Output<string>;
  nasMountDir: string;
  vpcId: pulumi.Output<string>;
  kafka: pulumi.Output<{ instanceId: string; topic: string; consumerGroup: string }>;
  logProject: pulumi.Output<string>;
  deadLetterQueue: pulumi.Output<string>;
  builtFromSource: boolean;
}

export interface ProgramOptions {
  /** raw config (default: the engine's, `pulumi.runtime.allConfig()`) */
  rawConfig?: Record<string, unknown>;
  stack?: string;
  resolve?: ResolveOptions;
}

export function loadConfig(opts: ProgramOptions = {}): StackConfig {
  return parseStackConfig(opts.rawConfig ?? pulumi.runtime.allConfig(), opts.stack ?? pulumi.getStack());
}

export async function logpipe(opts: ProgramOptions = {}): Promise<StackOutputs> {
  const cfg = loadConfig(opts);
  const release = await resolveRelease(cfg, opts.resolve);
  const tags = tagsFor(cfg.stack, cfg.tags);
  const accountId = alicloud.getAccountOutput().id;
  const p = cfg.namePrefix;

  const network = new Network("network", {
    namePrefix: p, config: cfg.network, tags,
    internalPorts: cfg.kafka.createInstance ? ["9092/9094"] : [],
  });
  const zone = network.zoneIds[0]!;
  const firstVswitch = network.vswitchIds.apply((ids) => ids[0]!);

  const storage = new SharedStorage("nas", {
    namePrefix: p, config: cfg.nas, vpcId: network.vpcId, vswitchId: firstVswitch, zoneId: zone,
    allowedCidrs: network.vswitchCidrs, protect: cfg.protect, tags,
  });
  const locks = new LockStore("locks", {
    namePrefix: p, config: cfg.redis, vswitchId: firstVswitch, zoneId: zone, allowedCidrs: network.vswitchCidrs, protect: cfg.protect, tags,
  });
  const archive = new Archive("archive", {
    config: cfg.archive, region: cfg.region, tags,
    bucketName: cfg.archive.bucketName ?? pulumi.interpolate`${p}-${accountId}`,
  });
  const kafka = new KafkaSource("kafka", {
    namePrefix: p, config: cfg.kafka, vpcId: network.vpcId, vswitchIds: network.vswitchIds, securityGroupId: network.securityGroupId, vswitchCidrs: network.vswitchCidrs, protect: cfg.protect, tags,
  });
  const logs = new FunctionLogs("logs", { projectName: cfg.logging.project ?? pulumi.interpolate`${p}-${accountId}`, config: cfg.logging, tags });
  const dlq = new DeadLetterQueue("dlq", { namePrefix: p, config: cfg.deadLetter, region: cfg.region, accountId, protect: cfg.protect, tags });

  const pipeline = new PipelineFunctions("pipeline", {
    config: cfg, release, accountId,
    network: { vpcId: network.vpcId, vswitchIds: network.vswitchIds, securityGroupId: network.securityGroupId },
    nas: { serverAddr: storage.serverAddr, mountDir: storage.mountDir, userId: storage.userId, groupId: storage.groupId },
    redis: { url: locks.url, password: locks.password },
    archive: { bucketName: archive.bucketName, prefix: archive.prefix, internalEndpoint: archive.internalEndpoint },
    logs: { project: logs.project, logstore: logs.logstore },
    deadLetter: { queueName: dlq.queueName },
    artifactStore: cfg.artifactStore,
    tags,
  }, { dependsOn: [storage, locks] });
  const fns = pipeline.functions;

  new KafkaTrigger("kafka-trigger", {
    functionName: fns.split.functionName,
    config: cfg.trigger,
    region: cfg.region,
    kafka: { instanceId: kafka.instanceId, topic: kafka.topic, consumerGroup: kafka.consumerGroup, offsetReset: cfg.kafka.offsetReset },
    network: { vpcId: network.vpcId, vswitchIds: network.vswitchIds, securityGroupId: network.securityGroupId },
    deadLetterArn: dlq.queueArn,
  }, { dependsOn: [fns.split] });
  new TimerTrigger("upload-timer", { functionName: fns.upload.functionName, cronExpression: cfg.pipeline.uploadSchedule }, { dependsOn: [fns.upload] });
  new CompressAsyncConfig("compress-async", {
    functionName: fns.compress.functionName, config: cfg.compressAsync, onFailureDestination: dlq.messagesArn,
  }, { dependsOn: [fns.compress] });
  new Alarms("alarms", {
    config: cfg.alarms, region: cfg.region, accountId, tags,
    functionNames: Object.fromEntries(FUNCTION_KINDS.map((k) => [k, fns[k].functionName])),
    // the trigger's consumer group, on the lag definition the canary gate reads (infra/fc-metrics.ts KAFKA_LAG)
    consumerLag: { instanceId: kafka.instanceId, consumerGroup: kafka.consumerGroup, threshold: 100_000 },
  });

  const perFn = <T>(f: (k: FunctionKind) => pulumi.Input<T>): pulumi.Output<Record<FunctionKind, T>> =>
    pulumi.all(Object.fromEntries(FUNCTION_KINDS.map((k) => [k, f(k)]))) as unknown as pulumi.Output<Record<FunctionKind, T>>;

  return {
    stack: cfg.stack,
    region: cfg.region,
    artifacts: perFn((k) => {
      const r = release.release[k];
      return pulumi.all([fns[k].stableVersionId, r.canary ? fns[k].versionIds[r.canary]! : pulumi.output("")]).apply(([versionId, canaryVersionId]) => ({
        digest: r.stable,
        versionId,
        ...(r.canary ? { canary: { digest: r.canary, versionId: canaryVersionId, weight: r.canaryWeight ?? 0 } } : {}),
      }));
    }),
    aliases: perFn((k) =>
      pulumi.all([fns[k].aliasName, fns[k].aliasVersionId, fns[k].additionalVersionWeight]).apply(([name, versionId, additionalVersionWeight]) => ({ name, versionId, additionalVersionWeight })),
    ),
    functionNames: perFn((k) => fns[k].functionName),
    bucketName: archive.bucketName,
    archivePrefix: archive.prefix,
    redisHost: locks.host,
    redisPort: locks.port,
    nasMountTarget: storage.mountTargetDomain,
    nasMountDir: storage.mountDir,
    vpcId: network.vpcId,
    kafka: pulumi.all([kafka.instanceId, kafka.topic, kafka.consumerGroup]).apply(([instanceId, topic, consumerGroup]) => ({ instanceId, topic, consumerGroup })),
    logProject: logs.project,
    deadLetterQueue: dlq.queueName,
    builtFromSource: release.builtFromSource,
  };
}
