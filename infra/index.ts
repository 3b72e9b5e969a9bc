/**
 * Pulumi entry point (`main: infra/` in Pulumi.yaml). It only composes the components; the
 * returned object becomes the stack outputs. See docs/deploy.md.
 */
import { logpipe } from "./program.js";

export default async () => logpipe();
