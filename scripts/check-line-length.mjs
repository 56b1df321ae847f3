#!/usr/bin/env node
// Part of `npm run lint`: no line of code over 140 characters (Biome's formatter wraps code at 140 but
// leaves a long string or comment as it is). Reads the files git tracks or would track; generated files
// (the bindings' types) and configuration that scripts edit line by line (wrangler.toml) are not code.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

const MAX = 140;
const CODE = /\.(ts|mts|mjs|js)$/;
const GENERATED = new Set(["worker-configuration.d.ts", "src/storage/audit-store/migrations.ts"]);

const files = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard"], { encoding: "utf8" })
  .split("\n")
  .filter((file) => CODE.test(file) && !GENERATED.has(file));
const long = files.flatMap((file) =>
  readFileSync(file, "utf8")
    .split("\n")
    .flatMap((line, i) => (line.length > MAX ? [`${file}:${i + 1}: ${line.length} characters`] : [])),
);
for (const line of long) console.log(line);
console.log(`line length: ${long.length} line(s) over ${MAX} characters in ${files.length} files`);
process.exit(long.length === 0 ? 0 : 1);
