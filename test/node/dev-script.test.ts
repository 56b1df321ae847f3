/**
 * `npm run dev` on a port that is taken fails at once and says so, instead of wrangler moving to another
 * port while the banner names the first (and sharing the first instance's local database).
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "../..");
let occupier: Server;
let port: number;

beforeAll(async () => {
  occupier = createServer();
  await new Promise<void>((done) => occupier.listen({ port: 0, host: "127.0.0.1" }, done));
  port = (occupier.address() as { port: number }).port;
});
afterAll(() => new Promise<void>((done) => occupier.close(() => done())));

it("refuses a taken port before touching anything, naming the port and a way out", async () => {
  const hadSecrets = existsSync(resolve(ROOT, ".dev.env"));
  const run = promisify(execFile)(process.execPath, ["scripts/dev.mjs", "--port", String(port)], { cwd: ROOT, timeout: 20_000 });
  const failure = await run.then(
    () => null,
    (err: { code: number; stderr: string }) => err,
  );
  expect(failure?.code).toBe(1);
  expect(failure?.stderr).toContain(`Port ${port} is already in use`);
  expect(failure?.stderr).toContain(`--port ${port + 1} --persist-to ./state-${port + 1}`);
  // Nothing was created or migrated first.
  expect(existsSync(resolve(ROOT, ".dev.env"))).toBe(hadSecrets);
});
