/**
 * Async invocation of the compress function through the FC 3.0 OpenAPI (InvokeFunction with
 * `x-fc-invocation-type: Async`), signed with the calling function's STS credentials. The SDK is
 * loaded lazily so local runs never pay for it.
 */
import { Readable } from "node:stream";
import type { CompressInvoker, DrainTask } from "../core/deps.js";

export interface FcCredentials {
  accessKeyId: string;
  accessKeySecret: string;
  securityToken?: string;
}

export interface FcInvokerOptions {
  accountId: string;
  region: string;
  /** "name" or "name:qualifier" (e.g. logpipe-compress:live) */
  functionName: string;
  credentials: FcCredentials;
  /** Use the VPC-internal endpoint (default true inside FC). */
  internal?: boolean;
}

/** The async payload limit is 128 KB; a drain task of 200 apps is a few KB, this guards mistakes. */
export const MAX_TASK_BYTES = 64 * 1024;

export function encodeTask(task: DrainTask): Buffer {
  const body = Buffer.from(JSON.stringify(task));
  if (body.length > MAX_TASK_BYTES) throw new Error(`compress payload is ${body.length} bytes, over ${MAX_TASK_BYTES}`);
  return body;
}

export class FcInvoker implements CompressInvoker {
  private client?: Promise<{ invoke(body: Buffer): Promise<void> }>;
  constructor(private readonly opts: FcInvokerOptions) {}

  private async connect() {
    const [{ default: FcClient, InvokeFunctionRequest, InvokeFunctionHeaders }, openapi, dara] = await Promise.all([
      import("@alicloud/fc20230330"),
      import("@alicloud/openapi-core"),
      import("@darabonba/typescript"),
    ]);
    const { accountId, region, credentials, internal = true } = this.opts;
    const client = new FcClient(
      new openapi.$OpenApiUtil.Config({
        accessKeyId: credentials.accessKeyId,
        accessKeySecret: credentials.accessKeySecret,
        securityToken: credentials.securityToken,
        endpoint: `${accountId}.${region}${internal ? "-internal" : ""}.fc.aliyuncs.com`,
        protocol: "https",
      }),
    );
    const [name, qualifier] = this.opts.functionName.split(":");
    return {
      async invoke(body: Buffer) {
        await client.invokeFunctionWithOptions(
          name!,
          new InvokeFunctionRequest({ body: Readable.from(body), qualifier }),
          new InvokeFunctionHeaders({ xFcInvocationType: "Async" }),
          new dara.RuntimeOptions({ autoretry: true, maxAttempts: 3 }),
        );
      },
    };
  }

  async invokeCompress(task: DrainTask): Promise<void> {
    const body = encodeTask(task);
    this.client ??= this.connect();
    await (await this.client).invoke(body);
  }
}
