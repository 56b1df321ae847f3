#!/usr/bin/env node
// `npm run docs:reference`: the endpoint reference as one static HTML file, build/reference.html, made by
// Redocly from the document the deployable artefact serves (the same document `/v1/docs` shows).
import { execFileSync } from "node:child_process";
import { SPEC, writeServedDocument } from "./served-document.mjs";

const OUTPUT = "build/reference.html";

await writeServedDocument();
execFileSync("npx", ["redocly", "build-docs", SPEC, "--output", OUTPUT], {
  stdio: "inherit",
  env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true" },
});
console.log(`reference: ${OUTPUT}`);
