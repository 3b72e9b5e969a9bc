/** Shapes shared by `planStack`, its worker, `logpipe plan` and `logpipe cost`. */

export interface PlannedResource {
  /** Pulumi type token, e.g. `alicloud:fc/v3Function:V3Function` (components: `logpipe:infra:*`) */
  type: string;
  /** logical name */
  name: string;
  urn?: string;
  /** inputs as declared; secrets masked as "[secret]", inline zips summarized */
  inputs: Record<string, unknown>;
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
  timeoutMs?: number;
}

export interface PlanRequest extends Omit<PlanOptions, "timeoutMs"> {
  stack: string;
  outFile: string;
}

export type PlanResult =
  | { ok: true; stack: string; resources: PlannedResource[]; outputs: Record<string, unknown> }
  | { ok: false; stack: string; error: { kind: "config" | "program"; message: string; issues?: { key: string; message: string }[] } };
