/**
 * LockStore: the Redis (KVStore) instance holding slot locks, committed lengths and offset
 * intervals. VPC only: no public connection is ever created, the whitelist is the vSwitch CIDRs,
 * password authentication is on, and the password is generated and kept as a Pulumi secret.
 * The password is exposed only as `password` (secret) for the functions' environment — never
 * registered as an output.
 */
import * as pulumi from "@pulumi/pulumi";
import * as alicloud from "@pulumi/alicloud";
import * as random from "@pulumi/random";
import type { RedisConfig } from "./config.js";
import { isPrivateCidr, REDIS_PERSISTENCE } from "./config.js";
import { statefulOptions, type Tags } from "./util.js";

export interface LockStoreArgs {
  namePrefix: string;
  config: RedisConfig;
  vswitchId: pulumi.Input<string>;
  zoneId: string;
  /** the only addresses allowed to connect (private CIDRs) */
  allowedCidrs: string[];
  /** protect + retain the instance (it holds the commit protocol's state) */
  protect: boolean;
  tags: Tags;
}

export const REDIS_PORT = 6379;

export class LockStore extends pulumi.ComponentResource {
  readonly instanceId: pulumi.Output<string>;
  readonly host: pulumi.Output<string>;
  readonly port: pulumi.Output<number>;
  /** secret */
  readonly password: pulumi.Output<string>;
  /** redis://host:port/0 — no password in it */
  readonly url: pulumi.Output<string>;

  constructor(name: string, args: LockStoreArgs, opts?: pulumi.ComponentResourceOptions) {
    super("logpipe:infra:LockStore", name, {}, opts);
    const { config, namePrefix } = args;
    const bad = args.allowedCidrs.filter((c) => !isPrivateCidr(c));
    if (args.allowedCidrs.length === 0 || bad.length > 0) {
      throw new Error(`LockStore: the whitelist must be non-empty private CIDRs, got ${JSON.stringify(args.allowedCidrs)}`);
    }
    // KVStore rule: 8–32 chars, three of upper/lower/digit/special. No specials keeps it URL- and shell-safe.
    const pw = new random.RandomPassword(`${name}-password`, { length: 24, special: false, minUpper: 2, minLower: 2, minNumeric: 2 }, { parent: this });
    const instance = new alicloud.kvstore.Instance(`${name}-redis`, {
      dbInstanceName: `${namePrefix}-locks`,
      instanceType: "Redis",
      engineVersion: config.engineVersion,
      instanceClass: config.instanceClass,
      paymentType: "PostPaid",
      zoneId: config.zoneId ?? args.zoneId,
      vswitchId: args.vswitchId,
      securityIps: args.allowedCidrs,
      securityIpGroupName: "logpipe",
      vpcAuthMode: "Open",
      password: pw.result,
      port: REDIS_PORT,
      instanceReleaseProtection: config.releaseProtection,
      // AOF, fsync every second: what the data path's fault suite proves (a restart loses at most
      // ~1 s of writes: duplicates counted, never loss). Parameters `appendonly`, `appendfsync`:
      // https://www.alibabacloud.com/help/en/redis/user-guide/supported-parameters (checked 2026-12-01)
      config: { ...REDIS_PERSISTENCE, "maxmemory-policy": "noeviction" },
      tags: args.tags,
    }, { parent: this, additionalSecretOutputs: ["password"], ...statefulOptions(args.protect) });
    this.instanceId = instance.id;
    this.host = instance.connectionDomain;
    this.port = instance.port.apply((p) => p ?? REDIS_PORT);
    this.password = pulumi.secret(pw.result);
    this.url = pulumi.interpolate`redis://${this.host}:${this.port}/0`;
    this.registerOutputs({ instanceId: this.instanceId, host: this.host, port: this.port });
  }
}
