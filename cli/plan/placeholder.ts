/**
 * Stand-in artifacts for plans that do not need real code (cost preview): a tiny deterministic
 * zip per function, so a stack without a pinned release can be planned before the handlers
 * build.
 */
import { crc64Decimal, deterministicZip, digestOf } from "../build/zip.js";
import { FUNCTIONS } from "../build/artifacts.js";

export async function placeholderBuild() {
  const out = [];
  for (const fn of FUNCTIONS) {
    const zip = await deterministicZip([{ name: "index.js", data: Buffer.from(`exports.handler = async () => { throw new Error("placeholder artifact for ${fn}: run logpipe build"); };\n`) }]);
    out.push({ fn, digest: digestOf(zip), zip, crc64: crc64Decimal(zip) });
  }
  return out;
}
