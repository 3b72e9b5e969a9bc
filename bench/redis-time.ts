/**
 * Redis's own time on a handler's commands. A handler waits while Redis runs its scripts, and FC
 * bills that wait; the bench's Redis runs on the same machine, so a round trip costs next to
 * nothing in wall time, but the execution time is real and is read from Redis itself.
 *
 * Its main thread's CPU (INFO cpu), not INFO commandstats: commands a script calls are counted
 * both on their own line and inside the script's, so a sum over commandstats counts them twice.
 */

/** Milliseconds of CPU Redis's main thread has used, from `INFO cpu` (the whole process's before Redis 6.2). */
export function redisCpuMs(info: string): number {
  const field = (name: string) => {
    const m = new RegExp(`^${name}:([\\d.]+)`, "m").exec(info);
    return m ? Number(m[1]) : undefined;
  };
  const user = field("used_cpu_user_main_thread") ?? field("used_cpu_user");
  const sys = field("used_cpu_sys_main_thread") ?? field("used_cpu_sys");
  if (user === undefined || sys === undefined) throw new Error("INFO cpu has no used_cpu_user / used_cpu_sys");
  return (user + sys) * 1000;
}
