/** Shapes shared by `planStack`, its worker, `logpipe plan` and `logpipe cost`. */

export interface PlannedResource {
  /** Pulumi type token, e.g. `alicloud:fc/v3Function:V3Function` (components: `logpipe:infra:*`) */
  type: string;
  /** logical name */
  name: string;
  urn?: string;
  /** inputs as declared; secrets masked as "[secret]", inline zips summarized */
  inputs: Record<string, unknown>;
  /** the resource options that decide what happens to its data (set ones only) */
  options?: ResourceOptionsSummary;
}

export interface ResourceOptionsSummary {
  protect?: boolean;
  retainOnDelete?: boolean;
  deleteBeforeReplace?: boolean;
  replaceOnChanges?: string[];
  ignoreChanges?: string[];
}

/** Provider outputs the mocks fake, overridable to test what follows from them. */
export interface MockOverrides {
  /** the Redis instance's connection domain */
  redisHost?: string;
}

export interface PlanOptions {
  /** use this file instead of stacks/Pulumi.<stack>.yaml */
  configFile?: string;
  /**
   * For a stack without logpipe:release: "build" (default) bundles the handlers like
   * `npm run build`; "placeholder" uses stand-in artifacts (pricing needs no real code).
   */
  artifacts?: "build" | "placeholder";
  /** where pinned digests' zips are looked up (default dist/artifacts) */
  artifactsDir?: string;
  /** fake provider outputs (tests) */
  mockOverrides?: MockOverrides;
  timeoutMs?: number;
}

export interface PlanRequest extends Omit<PlanOptions, "timeoutMs"> {
  stack: string;
  outFile: string;
}

export type PlanResult =
  | { ok: true; stack: string; resources: PlannedResource[]; outputs: Record<string, unknown> }
  | { ok: false; stack: string; error: { kind: "config" | "program"; message: string; issues?: { key: string; message: string }[] } };
