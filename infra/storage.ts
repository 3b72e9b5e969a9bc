/**
 * SharedStorage: the NAS file system the functions use as working disk (staging chunks,
 * active and sealed files). Its access group admits only the vSwitch CIDRs, read-write, and the
 * mount target lives in the first vSwitch.
 */
import * as pulumi from "@pulumi/pulumi";
import * as alicloud from "@pulumi/alicloud";
import type { NasConfig } from "./config.js";
import { statefulOptions, type Tags } from "./util.js";

export interface SharedStorageArgs {
  namePrefix: string;
  config: NasConfig;
  vpcId: pulumi.Input<string>;
  vswitchId: pulumi.Input<string>;
  zoneId: string;
  /** source CIDRs allowed to mount (the vSwitch CIDRs) */
  allowedCidrs: string[];
  /** protect + retain the file system (it holds data not yet uploaded) */
  protect: boolean;
  tags: Tags;
}

export class SharedStorage extends pulumi.ComponentResource {
  readonly fileSystemId: pulumi.Output<string>;
  readonly mountTargetDomain: pulumi.Output<string>;
  /** `<mount target>:<remoteDir>`, the FC mount point's serverAddr */
  readonly serverAddr: pulumi.Output<string>;
  readonly mountDir: string;
  readonly userId: number;
  readonly groupId: number;

  constructor(name: string, args: SharedStorageArgs, opts?: pulumi.ComponentResourceOptions) {
    super("logpipe:infra:SharedStorage", name, {}, opts);
    const { config, namePrefix } = args;
    if (args.allowedCidrs.length === 0) throw new Error("SharedStorage: allowedCidrs is empty (the access group would admit nobody)");
    const fs = new alicloud.nas.FileSystem(`${name}-fs`, {
      protocolType: config.protocolType,
      storageType: config.storageType,
      fileSystemType: "standard",
      encryptType: config.encrypt ? 1 : 0,
      zoneId: args.zoneId,
      description: `${namePrefix} working disk`,
      tags: args.tags,
    }, { parent: this, ...statefulOptions(args.protect) });
    const group = new alicloud.nas.AccessGroup(`${name}-ag`, {
      accessGroupName: `${namePrefix}-ag`,
      accessGroupType: "Vpc",
      fileSystemType: "standard",
      description: "logpipe functions' vSwitches only",
    }, { parent: this, deleteBeforeReplace: true }); // fixed name: a replacement must not collide with the old group
    const rules = args.allowedCidrs.map((cidr, i) => new alicloud.nas.AccessRule(`${name}-rule-${i}`, {
      accessGroupName: group.accessGroupName,
      fileSystemType: "standard",
      sourceCidrIp: cidr,
      rwAccessType: "RDWR",
      userAccessType: "no_squash",
      priority: 1,
    }, { parent: this }));
    const mt = new alicloud.nas.MountTarget(`${name}-mt`, {
      fileSystemId: fs.id,
      accessGroupName: group.accessGroupName,
      vpcId: args.vpcId,
      vswitchId: args.vswitchId,
      networkType: "Vpc",
    }, { parent: this, dependsOn: rules });
    this.fileSystemId = fs.id;
    this.mountTargetDomain = mt.mountTargetDomain;
    this.serverAddr = pulumi.interpolate`${mt.mountTargetDomain}:${config.remoteDir}`;
    this.mountDir = config.mountDir;
    this.userId = config.userId;
    this.groupId = config.groupId;
    this.registerOutputs({ fileSystemId: this.fileSystemId, mountTargetDomain: this.mountTargetDomain, serverAddr: this.serverAddr });
  }
}
