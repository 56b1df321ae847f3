/**
 * `wrangler dev` as a newcomer runs it, for the tests that need the real dev server (the README's quick
 * start, the reference page in Chromium): on a free port, with its own fresh local state, its D1 migrated
 * as `npm run dev` does, and a known admin token.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const QUIET = { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false" };

export type DevServer = { origin: string; adminToken: string; stop(): Promise<void> };

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

/**
 * Starts `wrangler dev` (its own process group, so it can be stopped whole) and resolves once it serves.
 * `vars` are passed as `--var NAME:value`.
 */
export async function startDevServer(adminToken: string, vars: Record<string, string> = {}): Promise<DevServer> {
  const persist = await mkdtemp(join(tmpdir(), "platform-dev-"));
  await promisify(execFile)("npx", ["wrangler", "d1", "migrations", "apply", "DB", "--local", "--persist-to", persist], { env: QUIET });
  const port = await freePort();
  const args = [
    "wrangler",
    "dev",
    "--ip",
    "127.0.0.1",
    "--port",
    String(port),
    "--persist-to",
    persist,
    "--var",
    `ADMIN_TOKEN:${adminToken}`,
    ...Object.entries(vars).flatMap(([name, value]) => ["--var", `${name}:${value}`]),
  ];
  const child: ChildProcess = spawn("npx", args, { detached: true, env: QUIET });
  let output = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`wrangler dev did not start:\n${output}`)), 90_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (/Ready on/.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.on("exit", (code) => reject(new Error(`wrangler dev exited (${code}):\n${output}`)));
  });
  return {
    origin: `http://127.0.0.1:${port}`,
    adminToken,
    async stop() {
      if (child.pid) process.kill(-child.pid, "SIGTERM");
      await rm(persist, { recursive: true, force: true });
    },
  };
}
