/**
 * `npm run provision` and `npm run deploy` (scripts/provision.mjs, scripts/deploy.mjs), offline: their
 * dry runs print the wrangler commands a real run would make and the edits to wrangler.toml without
 * writing anything, and the edits themselves (scripts/regions.mjs) give a wrangler.toml that wrangler
 * reads with the new ids where they belong.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { unstable_readConfig } from "wrangler";
import { isPlaceholderId, regionConfig, regionsOf, withBucketJurisdiction, withDatabaseId, withKvId } from "../../scripts/regions.mjs";

const run = promisify(execFile);
const committed = readFileSync("wrangler.toml", "utf8");
const FAKE_KV = "0123456789abcdef0123456789abcdef";
const fakeD1 = (i: number) => `1234abcd-0000-4000-8000-00000000000${i}`;

/** A copy of wrangler.toml (or `text`) in a fresh folder, for a script's --config. */
function configCopy(text = committed): string {
  const path = join(mkdtempSync(join(tmpdir(), "provision-test-")), "wrangler.toml");
  writeFileSync(path, text);
  return path;
}

/** Runs a script; resolves with its exit code and output whatever the code. */
async function script(name: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await run("node", [`scripts/${name}.mjs`, ...args], { env: { ...process.env, ...env } });
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const { code, stdout, stderr } = err as { code: number; stdout: string; stderr: string };
    return { code, out: stdout + stderr };
  }
}

/** Every region provisioned, as a real run would leave wrangler.toml (with made-up ids). */
function provisioned(): string {
  let text = withKvId(committed, FAKE_KV);
  regionsOf(committed).forEach((region, i) => {
    text = withDatabaseId(text, region, fakeD1(i + 1));
  });
  return withBucketJurisdiction(text, "eu-central-1", "eu");
}

describe("npm run provision -- <region> --dry-run", () => {
  it("prints eu-central-1's commands (EU jurisdiction, the host's deploy checked) and its edits, writing nothing", async () => {
    const config = configCopy();
    const { code, out } = await script("provision", ["eu-central-1", "--dry-run", "--config", config]);
    expect(code, out).toBe(0);
    const commands = out.split("\n").filter((line) => line.startsWith("$ npx wrangler "));
    expect(commands).toEqual([
      "$ npx wrangler kv namespace create platform-control-plane-kv",
      "$ npx wrangler d1 create platform-eu-central-1 --jurisdiction eu",
      "$ npx wrangler r2 bucket create platform-audit-exports-eu-central-1 --jurisdiction eu",
      "$ npx wrangler deployments list --env us-east-1",
      "$ npx wrangler d1 migrations apply DB --env eu-central-1 --remote",
      "$ npx wrangler secret list --env eu-central-1 --format json",
      "$ npx wrangler secret bulk <temporary folder>/secrets.json --env eu-central-1",
    ]);
    expect(out).toContain(
      '+ r2_buckets = [{ binding = "AUDIT_EXPORTS", bucket_name = "platform-audit-exports-eu-central-1", jurisdiction = "eu" }]',
    );
    expect(out).toContain('database_id = "<database_id printed by d1 create platform-eu-central-1>"');
    expect(out).toContain("Dry run: nothing was created or written.");
    expect(readFileSync(config, "utf8")).toBe(committed);
  });

  it("places us-east-1 by location hint, and says its first deploy applies the slug registry's migration", async () => {
    const { code, out } = await script("provision", ["us-east-1", "--dry-run", "--config", configCopy()]);
    expect(code, out).toBe(0);
    expect(out).toContain("$ npx wrangler d1 create platform-us-east-1 --location enam");
    expect(out).toContain("applies the Durable Object migration (v1, SlugRegistry) once");
    expect(out).toContain("applies the Durable Object migration (v2, AuditStore) once");
    expect(out).not.toContain("deployments list");
  });

  it("creates nothing twice: with the ids written, a repeat only applies migrations and checks secrets", async () => {
    const { code, out } = await script("provision", ["ap-southeast-2", "--dry-run", "--config", configCopy(provisioned())]);
    expect(code, out).toBe(0);
    expect(out).not.toContain("kv namespace create");
    expect(out).not.toContain("d1 create");
    expect(out).toContain(`ap-southeast-2's D1 database exists (${fakeD1(3)})`);
    expect(out).toContain("$ npx wrangler d1 migrations apply DB --env ap-southeast-2 --remote");
    expect(out).toContain("wrangler.toml as it would be edited (not written): no edits");
  });

  it("refuses an ADMIN_TOKEN under 32 characters before any step (the Worker would answer 503 to the admin surface)", async () => {
    const config = configCopy();
    const { code, out } = await script("provision", ["us-east-1", "--dry-run", "--config", config], { ADMIN_TOKEN: "x".repeat(31) });
    expect(code, out).toBe(2);
    expect(out).toContain("ADMIN_TOKEN must be at least 32 characters");
    expect(out).not.toContain("$ npx wrangler");
  });

  it("refuses an unknown region with its usage (exit 2)", async () => {
    const { code, out } = await script("provision", ["mars-north-1", "--dry-run", "--config", configCopy()]);
    expect(code).toBe(2);
    expect(out).toContain("regions: us-east-1, eu-central-1, ap-southeast-2, ca-central-1");
  });
});

describe("the edits to wrangler.toml", () => {
  it("are read by wrangler with each id where it belongs, and nothing else changed", () => {
    const path = configCopy(provisioned());
    regionsOf(committed).forEach((region, i) => {
      const config = unstable_readConfig({ config: path, env: region });
      expect(config.d1_databases[0]?.database_id, region).toBe(fakeD1(i + 1));
      expect(config.kv_namespaces[0]?.id, region).toBe(FAKE_KV);
      expect(config.r2_buckets[0]?.jurisdiction, region).toBe(region === "eu-central-1" ? "eu" : undefined);
      expect(isPlaceholderId(regionConfig(committed, region).databaseId)).toBe(true);
    });
    // the local top level keeps its own ids
    const local = unstable_readConfig({ config: path });
    expect(local.kv_namespaces[0]?.id).toBe("00000000000000000000000000000000");
    expect(local.d1_databases[0]?.database_id).toBe("00000000-0000-4000-8000-000000000000");
    // only the lines holding ids changed
    const changed = provisioned()
      .split("\n")
      .filter((line, i) => line !== committed.split("\n")[i]);
    expect(changed.every((line) => /database_id = "1234abcd|id = "0123456789abcdef|jurisdiction = "eu"/.test(line))).toBe(true);
  });
});

describe("npm run deploy", () => {
  it("--all deploys the slug registry's host first, then every other region", async () => {
    const { code, out } = await script("deploy", ["--all", "--dry-run", "--config", configCopy(provisioned())]);
    expect(code, out).toBe(0);
    const commands = out.split("\n").filter((line) => line.startsWith("$ "));
    expect(commands.map((line) => line.split(" --env ")[1]?.split(" ")[0])).toEqual([
      "us-east-1",
      "eu-central-1",
      "ap-southeast-2",
      "ca-central-1",
    ]);
    expect(commands[0]).toMatch(/^\$ npx wrangler deploy --env us-east-1 --config /);
  });

  it("refuses, before running anything, a region whose ids are still placeholders", async () => {
    const { code, out } = await script("deploy", ["eu-central-1", "--config", configCopy()]);
    expect(code).toBe(1);
    expect(out).toContain("not provisioned (placeholder ids in");
    expect(out).not.toContain("$ npx wrangler deploy");
  });

  it("takes exactly one of a region or --all", async () => {
    expect((await script("deploy", ["--dry-run"])).code).toBe(2);
    expect((await script("deploy", ["us-east-1", "--all", "--dry-run"])).code).toBe(2);
  });
});
