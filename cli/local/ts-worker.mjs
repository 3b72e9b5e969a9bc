// Bootstrap for worker threads running TypeScript: registers tsx in the worker, then loads the
// module named in workerData.entry. (`execArgv: ["--import", "tsx"]` does not reach the
// worker's first import on Node 20.)
import { workerData } from "node:worker_threads";
import { register } from "tsx/esm/api";

register();
await import(workerData.entry);
