/**
 * Async invocation of the compress function through the FC 3.0 OpenAPI (InvokeFunction with
 * `x-fc-invocation-type: Async`), signed with the calling function's STS credentials. The SDK is
 * loaded lazily so local runs never pay for it.
 */
import { Readable } from "node:stream";
import pLimit from "p-limit";
import { MAX_POINTERS_PER_INVOCATION, type ChunkPointer, type CompressInvoker, type CompressTask } from "../core/deps.js";

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

export function encodePointer(pointer: ChunkPointer | CompressTask): Buffer {
  const body = Buffer.from(JSON.stringify(pointer));
  if (body.length > MAX_POINTER_BYTES) throw new Error(`compress payload is ${body.length} bytes, over ${MAX_POINTER_BYTES}`);
  return body;
}

/** Groups pointers into compress tasks that each stay under MAX_POINTER_BYTES. */
export function packPointers(pointers: ChunkPointer[], maxPerTask = MAX_POINTERS_PER_INVOCATION): CompressTask[] {
  const tasks: CompressTask[] = [];
  let current: ChunkPointer[] = [];
  let bytes = 32;
  for (const p of pointers) {
    const size = Buffer.byteLength(JSON.stringify(p)) + 1;
    if (current.length > 0 && (current.length >= maxPerTask || bytes + size > MAX_POINTER_BYTES)) {
      tasks.push({ v: 1, pointers: current });
      current = [];
      bytes = 32;
    }
    current.push(p);
    bytes += size;
  }
  if (current.length > 0) tasks.push({ v: 1, pointers: current });
  return tasks;
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

  async invokeCompressMany(pointers: ChunkPointer[]): Promise<void> {
    this.client ??= this.connect();
    const client = await this.client;
    const limit = pLimit(8);
    await Promise.all(packPointers(pointers).map((task) => limit(() => client.invoke(encodePointer(task)))));
  }
}
