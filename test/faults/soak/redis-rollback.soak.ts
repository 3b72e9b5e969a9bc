/**
 * Soak: Redis rolled back to a snapshot (failover to a lagging replica) up to three times a run,
 * at moments drawn from the seed, while instances also kill -9 themselves at random points. The
 * promise of test/faults/redis-loss.test.ts: nothing lost, nothing left, no key rewritten with
 * other bytes, duplicates only when repairs reported them.
 */
import { describe, test } from "vitest";
import path from "node:path";
import { runScenario, Summary, unackedBatches } from "../support/harness.js";
import { checkNoLoss, injectWatching, OverwriteWatch, restartableRedis, until } from "../support/redis-loss.js";
import { soakSettings, soakShape } from "./settings.js";

const { seeds, killChance } = soakSettings();
const summary = new Summary("soak: redis rollbacks");
const redis = restartableRedis(summary);

describe(`Redis rolled back up to three times a run, kill -9 with chance ${killChance}`, () => {
  for (const seed of seeds) {
    const shape = soakShape(seed);
    test(`seed ${seed} (${shape.label}, objects in a local directory)`, async () => {
      let watch!: OverwriteWatch;
      const r = await runScenario({
        name: `soak-rollback-${seed}`, seed, apps: shape.apps, partitions: 4, perPartition: 15_000, batchRecords: 500,
        procs: 2, maxSpawns: 14, redisUrl: redis.url, objects: { kind: "local", dir: "" },
        // seals while the instances run, so rollbacks fall between seals and uploads too
        env: { ...shape.env, LOGPIPE_SEAL_MIN_BYTES: "0" },
        crashAt: (n, crashes) => (crashes < 6 ? `random:${killChance}:${seed * 1000 + n}` : undefined),
        during: async (ctx) => {
          watch = new OverwriteWatch(path.join(ctx.dir, "objects"));
          await injectWatching(ctx, redis.url, watch, async (admin) => {
            for (let round = 0; round < 3 && !ctx.isFinished(); round++) {
              const total = unackedBatches(ctx);
              if (!(await until(ctx, () => unackedBatches(ctx) <= total * (0.9 - 0.15 * round) && watch.scan() >= 0))) break;
              await admin.save();
              const base = { acked: unackedBatches(ctx), objects: watch.scan() };
              // what must happen after the snapshot before it is restored: commits, a seal or uploads
              const after = (seed + round) % 3;
              const ready = after === 0 ? () => base.acked - unackedBatches(ctx) >= 4 : after === 1 ? () => watch.scan() > base.objects : () => watch.scan() >= base.objects + 3;
              if (!(await until(ctx, ready))) break;
              await redis.restart(); // SIGKILL, then start from the snapshot (dump.rdb)
            }
          });
        },
      });
      watch.scan();
      checkNoLoss(r, watch.overwrites, summary);
    });
  }
});
