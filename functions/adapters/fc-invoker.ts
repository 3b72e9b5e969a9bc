/**
 * Async invocation of the compress function through the FC 3.0 OpenAPI (InvokeFunction with
 * `x-fc-invocation-type: Async`), signed with the calling function's STS credentials. The SDK is
 * loaded lazily so local runs never pay for it.
 */
import { Readable } from "node:stream";
import type { ChunkPointer, CompressInvoker } from "../core/deps.js";

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

/** The async payload limit is 128 KB; a pointer is a few hundred bytes, this guards mistakes. */
export const MAX_POINTER_BYTES = 16 * 1024;

export function encodePointer(pointer: ChunkPointer): Buffer {
  const body = Buffer.from(JSON.stringify(pointer));
  if (body.length > MAX_POINTER_BYTES) throw new Error(`compress pointer is ${body.length} bytes, over ${MAX_POINTER_BYTES}`);
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

  async invokeCompress(pointer: ChunkPointer): Promise<void> {
    const body = encodePointer(pointer);
    this.client ??= this.connect();
    await (await this.client).invoke(body);
  }
}
