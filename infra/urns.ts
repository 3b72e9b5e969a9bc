/**
 * The resources `logpipe canary` updates alone (Automation API `target`): a function's alias
 * `live`, and on the canary's first step the function and its canary version. They are named
 * here by type and logical name (as program.ts/pipeline.ts declare them) and found among the
 * stack's URNs, whatever the parent chain the engine prefixes them with.
 */
import type { Digest, FunctionKind } from "./config.js";
import { shortDigest } from "./artifacts.js";

export interface ResourceRef {
  type: string;
  name: string;
}

export const aliasRef = (kind: FunctionKind): ResourceRef => ({ type: "alicloud:fc/v3Alias:V3Alias", name: `pipeline-${kind}-live` });
export const functionRef = (kind: FunctionKind): ResourceRef => ({ type: "alicloud:fc/v3Function:V3Function", name: `pipeline-${kind}-fn` });
export const versionRef = (kind: FunctionKind, digest: Digest): ResourceRef => ({ type: "alicloud:fc/v3FunctionVersion:V3FunctionVersion", name: `pipeline-${kind}-v-${shortDigest(digest)}` });

/** The URN of `ref` among `urns` (`…::<parent types>$<type>::<name>` or `…::<type>::<name>`). */
export function findUrn(urns: Iterable<string>, ref: ResourceRef): string | undefined {
  for (const u of urns) if (u.endsWith(`$${ref.type}::${ref.name}`) || u.endsWith(`::${ref.type}::${ref.name}`)) return u;
  return undefined;
}
