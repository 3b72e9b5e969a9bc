/** Small shared helpers for the components: tags, RAM policy documents, ARNs. */
import * as pulumi from "@pulumi/pulumi";

export type Tags = Record<string, string>;

/**
 * Options for a resource that holds data (NAS files not yet uploaded, Redis commit state, dead
 * letters, consumer offsets): with `logpipe:protect` (the default) `pulumi destroy` or a
 * replacement stops instead of deleting it (protect), and if it leaves the program it is kept
 * in the cloud (retainOnDelete). A sandbox stack sets `logpipe:protect: false` to be disposable.
 */
export function statefulOptions(protect: boolean): { protect: boolean; retainOnDelete: boolean } {
  return { protect, retainOnDelete: protect };
}

/** Tags every logpipe resource carries, merged with the stack's own. */
export function tagsFor(stack: string, extra: Tags = {}, component?: string): Tags {
  return { "logpipe:stack": stack, ...(component ? { "logpipe:component": component } : {}), ...extra };
}

export interface PolicyStatement {
  Effect: "Allow" | "Deny";
  Action: string[];
  Resource: string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

export interface PolicyDocument {
  Version: "1";
  Statement: PolicyStatement[];
}

/**
 * A RAM statement is scoped when no action is `*` or `<service>:*` and no resource is `*`
 * (a bare wildcard, or an ARN whose account/region/resource part is only `*`). Returns one
 * message per violation; empty means scoped.
 */
export function policyViolations(doc: PolicyDocument, where: string): string[] {
  const out: string[] = [];
  if (doc.Version !== "1") out.push(`${where}: Version must be "1"`);
  if (!Array.isArray(doc.Statement) || doc.Statement.length === 0) out.push(`${where}: no statements`);
  (doc.Statement ?? []).forEach((s, i) => {
    const at = `${where}.Statement[${i}]`;
    const actions = Array.isArray(s.Action) ? s.Action : [s.Action as unknown as string];
    const resources = Array.isArray(s.Resource) ? s.Resource : [s.Resource as unknown as string];
    if (actions.length === 0) out.push(`${at}: no Action`);
    if (resources.length === 0) out.push(`${at}: no Resource`);
    for (const a of actions) {
      if (typeof a !== "string" || a === "*" || /:\*$/.test(a) || !/^[a-z0-9-]+:[A-Za-z0-9*]+$/.test(a)) out.push(`${at}: action "${a}" is not scoped`);
    }
    for (const r of resources) {
      if (typeof r !== "string" || r === "*" || !r.startsWith("acs:") || /^acs:[^:]*:[^:]*:[^:]*:\*$/.test(r) || /:\*$/.test(r)) {
        out.push(`${at}: resource "${r}" is not scoped`);
      }
    }
  });
  return out;
}

/** Throws (naming the policy) unless every statement is scoped. */
export function scopedPolicy(doc: PolicyDocument, where: string): string {
  const v = policyViolations(doc, where);
  if (v.length > 0) throw new Error(`refusing an unscoped RAM policy:\n  ${v.join("\n  ")}`);
  return JSON.stringify(doc);
}

/** Builds a policy document from Outputs, validating once they are known. */
export function policyDocumentOutput(statements: pulumi.Input<PolicyStatement>[], where: string): pulumi.Output<string> {
  return pulumi.all(statements).apply((ss) => scopedPolicy({ Version: "1", Statement: ss as PolicyStatement[] }, where));
}

export const arn = {
  fcFunction: (region: string, account: string, fn: string) => `acs:fc:${region}:${account}:functions/${fn}`,
  ossObjects: (bucket: string, prefix: string) => `acs:oss:*:*:${bucket}/${prefix.replace(/\/+$/, "")}/*`,
  ossBucket: (bucket: string) => `acs:oss:*:*:${bucket}`,
  logstore: (region: string, account: string, project: string, store: string) => `acs:log:${region}:${account}:project/${project}/logstore/${store}`,
  mnsQueue: (region: string, account: string, queue: string) => `acs:mns:${region}:${account}:/queues/${queue}`,
  mnsQueueMessages: (region: string, account: string, queue: string) => `acs:mns:${region}:${account}:/queues/${queue}/messages`,
};
