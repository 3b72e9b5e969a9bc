/**
 * Canary state shared by a team: state, audit log and lock as OSS objects next to the artifacts
 * (`<prefix>/canary/<stack>/<fn>/…`), through the real ali-oss client against the suite's OSS
 * test server (signatures, x-oss-forbid-overwrite, and OSS's refusal of If-Match on PutObject).
 */
import { randomUUID } from "node:crypto";
import { copyFileSync } from "node:fs";
import path from "node:path";
import OSS from "ali-oss";
import YAML from "yaml";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { AutomationStackRunner } from "../../cli/ops/automation.js";
import { CanaryEngine, type CanaryStartOptions } from "../../cli/ops/canary.js";
import { CanaryConflictError, CanaryLockedError, OssCanaryStore, type CanaryBucket } from "../../cli/ops/journal.js";
import { FakeMetricSource } from "../../cli/ops/metrics.js";
import { readProject } from "../../cli/ops/stack-config.js";
import { main } from "../../cli/index.js";
import { installFakePulumi, type FakePulumi } from "./support/fake-pulumi.js";
import { D, FakeClock, makeProject, stackYaml } from "./support/project.js";

const REPO = path.resolve(__dirname, "../..");
const env = process.env;
// sldEnable (path-style requests to the test server) is an ali-oss option its typings lack
const client = () => new OSS({ endpoint: env.LOGPIPE_TEST_OSS_ENDPOINT!, secure: false, sldEnable: true, bucket: env.LOGPIPE_TEST_OSS_BUCKET!, accessKeyId: env.LOGPIPE_TEST_OSS_AK!, accessKeySecret: env.LOGPIPE_TEST_OSS_SK! } as OSS.Options) as unknown as CanaryBucket & OSS;

let fake: FakePulumi;
let prefix: string;
let root: string;

const healthy = () => new FakeMetricSource((q) => (q.qualifier === "1" ? "healthy" : "healthy"));
const opts = (over: Partial<CanaryStartOptions> = {}): CanaryStartOptions => ({
  stack: "prod", fn: "compress", digest: D.b, steps: [50, 100], intervalMs: 300_000,
  thresholds: { maxErrorRate: 0.01, minInvocations: 50 }, noTrafficRetries: 0, onNoTraffic: "rollback", ...over,
});

function sharedProject(): string {
  return makeProject({ prod: stackYaml({ extra: `  logpipe:artifactStore:\n    bucket: ${env.LOGPIPE_TEST_OSS_BUCKET}\n    prefix: ${prefix}\n` }) });
}

function engineAt(dir: string, actor: string, clock: FakeClock, logs: string[] = [], leaseMs?: number) {
  const project = readProject(dir);
  const store = new OssCanaryStore(client(), env.LOGPIPE_TEST_OSS_BUCKET!, prefix, clock, leaseMs);
  return new CanaryEngine({ project, runner: new AutomationStackRunner(project), metrics: async () => healthy(), clock, store, actor, log: (l) => logs.push(l) });
}

/** A clock whose sleeps wait for `open()`: holds a run (and its lock) in its first observation window. */
class HeldClock extends FakeClock {
  private gate!: Promise<void>;
  open!: () => void;
  readonly sleeping: Promise<void>;
  private slept!: () => void;
  constructor(t: number) {
    super(t);
    this.gate = new Promise((r) => (this.open = r));
    this.sleeping = new Promise((r) => (this.slept = r));
  }
  override async sleep(ms: number): Promise<void> {
    this.slept();
    await this.gate;
    return super.sleep(ms);
  }
}

async function keys(sub: string): Promise<string[]> {
  const r = await client().list({ prefix: `${prefix}/canary/prod/compress/${sub}`, "max-keys": 1000 }, {});
  return (r.objects ?? []).map((o) => o.name);
}

/** Runs the CLI in-process; returns exit code, stdout and stderr. */
async function cli(argv: string[], extraEnv: Record<string, string> = {}) {
  const out: string[] = [], err: string[] = [];
  const so = vi.spyOn(process.stdout, "write").mockImplementation((c) => (out.push(String(c)), true));
  const se = vi.spyOn(process.stderr, "write").mockImplementation((c) => (err.push(String(c)), true));
  const saved = { ...process.env }, savedCode = process.exitCode;
  Object.assign(process.env, {
    ALIBABA_CLOUD_ACCESS_KEY_ID: env.LOGPIPE_TEST_OSS_AK!, ALIBABA_CLOUD_ACCESS_KEY_SECRET: env.LOGPIPE_TEST_OSS_SK!,
    LOGPIPE_OSS_ENDPOINT: env.LOGPIPE_TEST_OSS_ENDPOINT!, ...extraEnv,
  });
  delete process.env.LOGPIPE_CANARY_DIR;
  try {
    process.exitCode = undefined;
    const code = await main(["node", "logpipe", ...argv]);
    return { code, stdout: out.join(""), stderr: err.join("") };
  } finally {
    so.mockRestore();
    se.mockRestore();
    process.env = saved;
    process.exitCode = savedCode;
  }
}

beforeEach(async () => {
  prefix = `t${randomUUID().slice(0, 8)}/logpipe/artifacts`;
  root = sharedProject();
  fake = installFakePulumi(REPO);
  await new AutomationStackRunner(readProject(root)).up("prod");
  fake.clearCalls();
});
afterEach(() => fake.restoreEnv());

describe("shared canary state on OSS", () => {
  it("two operators start the same canary at once: exactly one runs, the other is refused naming the holder and changes nothing", async () => {
    // real time: the command-line run below judges the lease by the wall clock
    const t0 = Date.now(), iso = (t: number) => new Date(t).toISOString();
    const aliceClock = new HeldClock(t0);
    const alice = engineAt(root, "alice@laptop", aliceClock);
    const running = alice.start(opts());
    await aliceClock.sleeping; // alice holds the lock, in her first observation window
    const upsBefore = fake.ups().length;

    const bob = engineAt(root, "bob@ci", new FakeClock());
    const refused = await bob.start(opts()).catch((e) => e);
    expect(refused).toBeInstanceOf(CanaryLockedError);
    expect(refused.message).toContain(`canary prod/compress is locked by alice@laptop since ${iso(t0)} (lease until ${iso(t0 + 900_000)})`);
    expect(refused.message).toContain(`oss://${env.LOGPIPE_TEST_OSS_BUCKET}/${prefix}/canary/prod/compress/`);
    expect(fake.ups().length).toBe(upsBefore); // bob ran nothing

    // the same through the command line: exit 3 (not 1, a failed canary), holder in --json
    const r = await cli(["canary", "start", "--stack", "prod", "--function", "compress", "--digest", D.b, "--steps", "50,100", "--metrics", "fake:healthy", "--project-dir", root, "--json"], { LOGPIPE_ACTOR: "carol@ci" });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`logpipe canary start: canary prod/compress is locked by alice@laptop since ${iso(t0)}`);
    expect(JSON.parse(r.stdout)).toMatchObject({ error: "locked", holder: { owner: "alice@laptop", since: iso(t0) } });
    expect(fake.ups().length).toBe(upsBefore);

    aliceClock.open();
    expect((await running).status).toBe("succeeded");
    expect(await keys("lock")).toEqual([]); // released
    const audit = await alice.audit("prod", "compress");
    expect(new Set(audit.map((a) => a.actor))).toEqual(new Set(["alice@laptop"]));
    expect(audit.map((a) => a.action).at(-1)).toBe("promoted");
  });

  it("break-glass does not wait for a stuck run's lock: it rolls back and that run stops at its next write", async () => {
    const aliceClock = new HeldClock(Date.now());
    const alice = engineAt(root, "alice@laptop", aliceClock);
    const running = alice.start(opts()).catch((e) => e);
    await aliceClock.sleeping;
    const updates: unknown[] = [];
    const project = readProject(root);
    const ops = new CanaryEngine({
      project, runner: new AutomationStackRunner(project), metrics: async () => healthy(), clock: new FakeClock(Date.now()), actor: "ops@desk", log: () => {},
      store: new OssCanaryStore(client(), env.LOGPIPE_TEST_OSS_BUCKET!, prefix, { now: () => Date.now() }),
      aliasClient: async () => ({ updateAlias: async (...a: unknown[]) => { updates.push(a); } }),
    });
    const out = await ops.breakGlass("prod", "compress", "pulumi hangs");
    expect(out.status).toBe("rolled-back");
    expect(updates).toEqual([["logpipe-prod-compress", "live", "1", {}]]);
    aliceClock.open();
    const e = await running;
    expect(e).toBeInstanceOf(CanaryConflictError);
    expect(e.message).toMatch(/moved on under this run: revision \d+ was already written by ops@desk/);
    const actions = (await ops.audit("prod", "compress")).map((a) => a.action);
    expect(actions).toContain("break-glass-over-lock");
    expect(actions.indexOf("break-glass-rolled-back")).toBeGreaterThan(actions.indexOf("break-glass-over-lock"));
    expect(actions).not.toContain("promoted");
  });

  it("state revisions are create-only: of two writers of the same revision exactly one wins", async () => {
    const store = new OssCanaryStore(client(), env.LOGPIPE_TEST_OSS_BUCKET!, prefix, new FakeClock());
    expect(await store.writeState("prod", "compress", { updatedBy: "a" }, 0)).toBe(1);
    const results = await Promise.allSettled([
      store.writeState("prod", "compress", { step: "a", updatedBy: "alice" }, 1),
      store.writeState("prod", "compress", { step: "b", updatedBy: "bob" }, 1),
    ]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const lost = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
    expect(lost.reason).toBeInstanceOf(CanaryConflictError);
    expect(lost.reason.message).toMatch(/revision 2 was already written by (alice|bob) at /);
    const got = await store.readState<{ step: string }>("prod", "compress");
    expect(got!.revision).toBe(2);
    // a stale writer can never go back either
    await expect(store.writeState("prod", "compress", {}, 0)).rejects.toBeInstanceOf(CanaryConflictError);
    // OSS refuses If-Match on PutObject (so the store never relies on it), as the test server does
    await expect(client().put(`${prefix}/x`, Buffer.from("x"), { headers: { "If-Match": '"abc"' } })).rejects.toMatchObject({ code: "NotImplemented" });
  });

  it("a lock whose lease expired is taken over (once, recorded); before that it is refused; unlock --force breaks a live one", async () => {
    const clock = new FakeClock();
    // carol's run died holding the lock (her lease is 10 minutes)
    const carolStore = new OssCanaryStore(client(), env.LOGPIPE_TEST_OSS_BUCKET!, prefix, clock, 600_000);
    const carol = await carolStore.lock("prod", "compress", "carol@laptop");
    clock.t += 300_000;
    await expect(engineAt(root, "dave@ci", clock).start(opts())).rejects.toThrow(/locked by carol@laptop since 2026-11-25T08:00:00\.000Z \(lease until 2026-11-25T08:10:00\.000Z\)/);

    clock.t += 301_000; // past carol's lease
    const logs: string[] = [];
    const dave = engineAt(root, "dave@ci", clock, logs);
    const out = await dave.start(opts());
    expect(out.status).toBe("succeeded");
    expect(logs.some((l) => l.includes("took over the expired lock of carol@laptop"))).toBe(true);
    const audit = await dave.audit("prod", "compress");
    expect(audit.find((a) => a.action === "lock-taken-over")).toMatchObject({ actor: "dave@ci", previous: { owner: "carol@laptop", token: carol.holder.token } });
    expect(await keys(`breaks/${carol.holder.token}`)).toHaveLength(1);
    // carol comes back: her lease is gone, so her next write stops her
    await expect(carol.renew()).rejects.toThrow(/lock of prod\/compress was taken over|taken over/);

    // a live lock: unlock refuses without --force, breaks it with --force (audited)
    const erinStore = new OssCanaryStore(client(), env.LOGPIPE_TEST_OSS_BUCKET!, prefix, { now: () => Date.now() }); // the CLI judges by the wall clock
    const erin = await erinStore.lock("prod", "compress", "erin@laptop");
    const r1 = await cli(["canary", "unlock", "--stack", "prod", "--function", "compress", "--project-dir", root]);
    expect(r1.code).toBe(3);
    expect(r1.stderr).toMatch(/locked by erin@laptop .*its lease has not ended; pass --force/);
    const r2 = await cli(["canary", "unlock", "--stack", "prod", "--function", "compress", "--project-dir", root, "--force", "--json"], { LOGPIPE_ACTOR: "ops@desk" });
    expect(r2.code).toBe(0);
    expect(JSON.parse(r2.stdout).removed).toMatchObject({ owner: "erin@laptop", token: erin.holder.token });
    expect((await dave.audit("prod", "compress")).at(-1)).toMatchObject({ action: "lock-broken", actor: "ops@desk", force: true, previous: { owner: "erin@laptop" } });
    await expect(erin.renew()).rejects.toBeInstanceOf(CanaryConflictError);
  });

  it("a long observation window keeps the lock: the holder renews its lease between shorter sleeps", async () => {
    const attempts: string[] = [];
    class HookClock extends FakeClock {
      hook?: (n: number) => Promise<void>;
      override async sleep(ms: number): Promise<void> {
        this.sleeps.push(ms);
        this.t += ms;
        await this.hook?.(this.sleeps.length);
      }
    }
    const clock = new HookClock();
    const bobStore = new OssCanaryStore(client(), env.LOGPIPE_TEST_OSS_BUCKET!, prefix, clock, 60_000);
    clock.hook = async (n) => {
      if (n !== 7) return; // 140 s into the window: a lease of 60 s taken at the start would have ended
      const e = await bobStore.lock("prod", "compress", "bob@ci").then(() => undefined, (x) => x);
      attempts.push(e instanceof CanaryLockedError ? "refused" : "acquired");
    };
    const out = await engineAt(root, "alice@laptop", clock, [], 60_000).start(opts());
    expect(out.status).toBe("succeeded");
    expect(attempts).toEqual(["refused"]);
    expect(clock.sleeps).toEqual(Array(30).fill(20_000)); // two 300 s windows in thirds of the lease
  });

  it("a second machine (another checkout, another operator) sees the state and resumes the run; --json says which stack file changed", async () => {
    const clock = new FakeClock();
    clock.onSleep = (n) => { if (n === 1) throw Object.assign(new Error("interrupted"), { name: "AbortError" }); };
    await expect(engineAt(root, "alice@laptop", clock).start(opts({ intervalMs: 1000 }))).rejects.toThrow(/interrupted at step 1 \(observe\); state kept in oss:\/\//);

    // nobody promotes over it from another stack: logpipe promote reads the shared state too
    const p = await cli(["promote", "staging", "prod", "--dry-run", "--project-dir", root]);
    expect(p.code).toBe(2);
    expect(p.stderr).toMatch(/prod has a canary run of compress in state "running" \(oss:\/\/.*\/canary\/prod\/compress\/, started by alice@laptop\)/);

    // bob's checkout: the stack file as alice committed it, no local .logpipe directory
    const root2 = sharedProject();
    copyFileSync(path.join(root, "stacks/Pulumi.prod.yaml"), path.join(root2, "stacks/Pulumi.prod.yaml"));
    // run from inside bob's checkout (another working directory), no --project-dir
    const cwd = process.cwd();
    process.chdir(root2);
    const status = await cli(["canary", "status", "--stack", "prod", "--function", "compress", "--json"], { LOGPIPE_ACTOR: "bob@desk" }).finally(() => process.chdir(cwd));
    expect(status.code).toBe(0);
    const st = JSON.parse(status.stdout);
    expect(st.stateStore).toBe("oss");
    expect(st.functions[0].state).toMatchObject({ status: "running", phase: "observe", stepIndex: 0, appliedWeight: 0.5, startedBy: "alice@laptop" });
    expect(st.functions[0].lock).toBeNull();
    expect(st.functions[0].audit.map((a: { action: string }) => a.action)).toContain("interrupted");

    const r = await cli(["canary", "start", "--stack", "prod", "--function", "compress", "--steps", "50,100", "--interval", "1s", "--min-invocations", "1",
      "--metrics", "fake:healthy", "--project-dir", root2, "--json"], { LOGPIPE_ACTOR: "bob@desk" });
    expect(r.code).toBe(0);
    const res = JSON.parse(r.stdout);
    expect(res).toMatchObject({ status: "succeeded", commitNeeded: true, stateStore: expect.stringMatching(/^oss:\/\//) });
    expect(res.configChanges.map((c: { file: string; action: string }) => [c.file, c.action])).toEqual([["stacks/Pulumi.prod.yaml", "step"], ["stacks/Pulumi.prod.yaml", "promote"]]);
    expect(res.configChanges[0].diff).toMatch(/-\s+canaryWeight: 0\.5\n\+\s+canaryWeight: 1/);
    expect(YAML.parse(fake.ups().at(-1)!.configText!).config["logpipe:release"].compress).toEqual({ stable: D.b });
    const audit = await engineAt(root, "x", clock).audit("prod", "compress");
    expect(audit.filter((a) => a.action === "resumed").map((a) => a.actor)).toEqual(["bob@desk"]);
    expect(audit.find((a) => a.action === "started")!.actor).toBe("alice@laptop");
  });
});
