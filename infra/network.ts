/**
 * Network: the VPC the functions, NAS mount target, Redis and (for dev) Kafka live in. Either
 * creates a VPC with its vSwitches and a security group, or adopts existing IDs from config.
 * The vSwitch CIDRs are what NAS access rules and the Redis whitelist allow — nothing wider.
 */
import * as pulumi from "@pulumi/pulumi";
import * as alicloud from "@pulumi/alicloud";
import type { NetworkConfig } from "./config.js";
import type { Tags } from "./util.js";

export interface NetworkArgs {
  namePrefix: string;
  config: NetworkConfig;
  tags: Tags;
  /** TCP port ranges reachable from inside the vSwitches on the security group (e.g. Kafka "9092/9094"). */
  internalPorts?: string[];
}

export class Network extends pulumi.ComponentResource {
  readonly vpcId: pulumi.Output<string>;
  readonly vswitchIds: pulumi.Output<string[]>;
  readonly securityGroupId: pulumi.Output<string>;
  /** Plain values from config: CIDR and zone of each vSwitch, in order. */
  readonly vswitchCidrs: string[];
  readonly zoneIds: string[];
  readonly created: boolean;

  constructor(name: string, args: NetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super("logpipe:infra:Network", name, {}, opts);
    const { config, namePrefix, tags } = args;
    if (config.existing) {
      const e = config.existing;
      this.created = false;
      this.vpcId = pulumi.output(e.vpcId);
      this.vswitchIds = pulumi.output(e.vswitches.map((v) => v.id));
      this.securityGroupId = pulumi.output(e.securityGroupId);
      this.vswitchCidrs = e.vswitches.map((v) => v.cidr);
      this.zoneIds = e.vswitches.map((v) => v.zoneId);
    } else {
      const c = config.create!;
      this.created = true;
      const vpc = new alicloud.vpc.Network(`${name}-vpc`, { vpcName: `${namePrefix}-vpc`, cidrBlock: c.vpcCidr, description: "logpipe functions, NAS, Redis", tags }, { parent: this });
      const vswitches = c.vswitches.map(
        (v, i) =>
          new alicloud.vpc.Switch(`${name}-vsw-${i}`, { vswitchName: `${namePrefix}-vsw-${i}`, vpcId: vpc.id, cidrBlock: v.cidr, zoneId: v.zoneId, tags }, { parent: this }),
      );
      const sg = new alicloud.ecs.SecurityGroup(`${name}-sg`, { securityGroupName: `${namePrefix}-sg`, vpcId: vpc.id, description: "logpipe functions (egress only unless internal ports are opened)", tags }, { parent: this });
      for (const [i, ports] of (args.internalPorts ?? []).entries()) {
        for (const [j, cidr] of c.vswitches.map((v) => v.cidr).entries()) {
          new alicloud.ecs.SecurityGroupRule(`${name}-sg-in-${i}-${j}`, {
            securityGroupId: sg.id, type: "ingress", ipProtocol: "tcp", portRange: ports, cidrIp: cidr, policy: "accept", nicType: "intranet", priority: 1,
            description: `logpipe internal ${ports} from ${cidr}`,
          }, { parent: this });
        }
      }
      this.vpcId = vpc.id;
      this.vswitchIds = pulumi.all(vswitches.map((v) => v.id));
      this.securityGroupId = sg.id;
      this.vswitchCidrs = c.vswitches.map((v) => v.cidr);
      this.zoneIds = c.vswitches.map((v) => v.zoneId);
    }
    this.registerOutputs({ vpcId: this.vpcId, vswitchIds: this.vswitchIds, securityGroupId: this.securityGroupId });
  }
}
