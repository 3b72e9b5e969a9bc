/** Temp logpipe projects (Pulumi.yaml + stacks/) and a fake clock for the operations tests. */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Clock } from "../../../cli/ops/journal.js";

export const D = {
  a: `sha256:${"a".repeat(64)}`,
  b: `sha256:${"b".repeat(64)}`,
  c: `sha256:${"c".repeat(64)}`,
  d: `sha256:${"d".repeat(64)}`,
};

export function stackYaml(opts: { region?: string; compress?: string; extra?: string } = {}): string {
  return `# prod stack — edited by humans and by logpipe; keep the comments
config:
  alicloud:region: ${opts.region ?? "cn-hangzhou"}
  logpipe:namePrefix: logpipe  # short names
  logpipe:kafka:
    instanceId: alikafka_post-cn-test
    topic: app-logs
  logpipe:release:
    split:
      stable: ${D.a}
    compress:
${opts.compress ?? `      stable: ${D.a}  # current release`}
    upload:
      stable: ${D.a}
  logpipe:artifacts:
    ${D.a}:
      bucket: logpipe-artifacts
      object: logpipe/artifacts/${D.a.slice(7)}.zip
      checksum: "11051210869376104954"
${opts.extra ?? ""}`;
}

export function makeProject(stacks: Record<string, string>): string {
  const root = mkdtempSync(path.join(os.tmpdir(), "logpipe-ops-"));
  writeFileSync(path.join(root, "Pulumi.yaml"), "name: logpipe\nruntime:\n  name: nodejs\nmain: infra/\nstackConfigDir: stacks\n");
  mkdirSync(path.join(root, "stacks"));
  for (const [name, text] of Object.entries(stacks)) writeFileSync(path.join(root, "stacks", `Pulumi.${name}.yaml`), text);
  return root;
}

/** Virtual time: sleep() advances `now` instantly and records the duration. */
export class FakeClock implements Clock {
  readonly sleeps: number[] = [];
  /** Called before each sleep resolves; may throw (e.g. an AbortError to simulate Ctrl-C). */
  onSleep?: (n: number) => void;
  constructor(public t = Date.parse("2026-11-25T08:00:00Z")) {}
  now(): number { return this.t; }
  async sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    this.onSleep?.(this.sleeps.length);
    this.t += ms;
    await Promise.resolve();
  }
}
