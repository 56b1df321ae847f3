// The OpenAPI document the deployable artefact serves (built and run as in the artefact smoke test),
// written to build/openapi.json: what the spec lint reads and the static reference is made from.
import { mkdirSync, writeFileSync } from "node:fs";
import { buildArtifact, startArtifact } from "./artifact.mjs";

const ENVIRONMENT = "us-east-1";
export const SPEC = "build/openapi.json";

/** Builds and starts the us-east-1 artefact, writes its /doc to SPEC, and stops it. */
export async function writeServedDocument() {
  const worker = await startArtifact({
    outdir: await buildArtifact(ENVIRONMENT),
    environment: ENVIRONMENT,
    secrets: { ADMIN_TOKEN: "unused-by-the-document" },
  });
  try {
    const res = await worker.mf.dispatchFetch(`${worker.url.origin}/doc`);
    if (res.status !== 200) throw new Error(`/doc answered ${res.status}`);
    mkdirSync("build", { recursive: true });
    writeFileSync(SPEC, await res.text());
  } finally {
    await worker.dispose();
  }
}
