// Bootstrap for child processes running TypeScript (`logpipe invoke` runs the handler in one):
// registers tsx, then loads the module whose path is the first argument. Resolving tsx from
// here (not from the caller's cwd) keeps `npx logpipe` working from any directory.
import { pathToFileURL } from "node:url";
import { register } from "tsx/esm/api";

register();
await import(pathToFileURL(process.argv[2]).href);
