/**
 * FunctionRole: one RAM role per function, trusted by FC only, with one custom policy whose
 * statements are checked before they are declared: no `*` action, no `*` resource.
 */
import * as pulumi from "@pulumi/pulumi";
import * as alicloud from "@pulumi/alicloud";
import { policyDocumentOutput, type PolicyStatement, type Tags } from "./util.js";

export interface FunctionRoleArgs {
  roleName: string;
  description: string;
  statements: pulumi.Input<PolicyStatement>[];
  tags: Tags;
}

export const FC_TRUST_POLICY = JSON.stringify({
  Version: "1",
  Statement: [{ Action: "sts:AssumeRole", Effect: "Allow", Principal: { Service: ["fc.aliyuncs.com"] } }],
});

export class FunctionRole extends pulumi.ComponentResource {
  readonly roleName: pulumi.Output<string>;
  readonly arn: pulumi.Output<string>;
  readonly policyDocument: pulumi.Output<string>;

  constructor(name: string, args: FunctionRoleArgs, opts?: pulumi.ComponentResourceOptions) {
    super("logpipe:infra:FunctionRole", name, {}, opts);
    if (!/^[A-Za-z0-9.-]{1,64}$/.test(args.roleName)) throw new Error(`FunctionRole: roleName "${args.roleName}" must be 1–64 letters, digits, . or -`);
    const role = new alicloud.ram.Role(`${name}-role`, {
      roleName: args.roleName,
      assumeRolePolicyDocument: FC_TRUST_POLICY,
      description: args.description,
      maxSessionDuration: 3600,
      tags: args.tags,
    }, { parent: this, deleteBeforeReplace: true }); // fixed role name
    this.policyDocument = policyDocumentOutput(args.statements, `RAM policy ${args.roleName}`);
    const policy = new alicloud.ram.Policy(`${name}-policy`, {
      policyName: `${args.roleName}-policy`,
      policyDocument: this.policyDocument,
      description: args.description,
      rotateStrategy: "DeleteOldestNonDefaultVersionWhenLimitExceeded",
      tags: args.tags,
    }, { parent: this, deleteBeforeReplace: true }); // fixed policy name
    new alicloud.ram.RolePolicyAttachment(`${name}-attach`, { roleName: role.roleName, policyName: policy.policyName, policyType: "Custom" }, { parent: this });
    this.roleName = role.roleName;
    this.arn = role.arn;
    this.registerOutputs({ roleName: this.roleName, arn: this.arn });
  }
}
