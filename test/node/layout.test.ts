/**
 * The layers are folders (docs/architecture.md): every module of src/ but the entry point and the app
 * factory sits in one, and imports only from its own layer or from the layers that table says it may.
 * Every route group has the same five files and reaches another group only through its service or
 * schemas; no module imports itself back through others. The table is read from docs/architecture.md, so
 * the picture a newcomer reads is the rule this test enforces. One convention of the hot path is checked
 * here too: request variables are read with `c.get()`.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "../..");
const SRC = join(ROOT, "src");
const GROUP_FILES = ["handlers.ts", "index.ts", "routes.ts", "schemas.ts", "service.ts"];
/** A group that serves HTML pages (docs/architecture.md) has its markup beside them, and only such a group. */
const PAGE_GROUPS = ["device-page"];
/** The composition root: the only modules outside a layer, and the only ones that may import every layer. */
const ENTRY_FILES = ["app.ts", "index.ts"];

/** `| core | `src/core/` | nothing |` rows of the architecture page's layer table: layer -> layers it may import. */
function layerTable(): Map<string, string[]> {
  const page = readFileSync(join(ROOT, "docs/architecture.md"), "utf8");
  const rows = [...page.matchAll(/^\| (\w+) \| `src\/(\w+)\/` \| ([^|]+) \|/gm)];
  return new Map(
    rows.map(([, layer, folder, mayImport]) => {
      expect(folder, `the ${layer} layer is the folder of its name`).toBe(layer);
      const targets = mayImport!.trim() === "nothing" ? [] : mayImport!.split(",").map((name) => name.trim());
      return [layer!, targets];
    }),
  );
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith(".ts") ? [path] : [];
  });
}

function isFile(path: string) {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** Relative imports of a file, as paths of files under src/ (type-only imports count too). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  return [...text.matchAll(/^(?:import|export)\b[^;]*?from "(\.[^"]+)";/gms)].map(([, spec]) => {
    const target = resolve(dirname(file), spec!);
    // An explicit `.ts` (src/security/transparency/, which Node also loads: scripts/audit-verify.mjs) or none.
    const resolved = target.endsWith(".ts") && isFile(target) ? target : isFile(`${target}.ts`) ? `${target}.ts` : join(target, "index.ts");
    return relative(SRC, resolved);
  });
}

const layers = layerTable();
const graph = new Map(sourceFiles(SRC).map((file) => [relative(SRC, file), importsOf(file)]));
const layerOf = (path: string) => (ENTRY_FILES.includes(path) ? "entry" : path.split("/")[0]!);
const groupOf = (path: string) => (path.startsWith("routes/") ? path.split("/")[1] : undefined);
const groups = readdirSync(join(SRC, "routes"));

describe("source layout", () => {
  it("has the layers of docs/architecture.md, and no loose file in src/ but the entry point and the app factory", () => {
    expect([...layers.keys()]).toEqual(["core", "security", "storage", "auth", "http", "routes", "jobs"]);
    const top = readdirSync(SRC).sort();
    expect(top).toEqual([...ENTRY_FILES, ...layers.keys()].sort());
  });

  it("finds the route groups", () => {
    expect(groups.sort()).toEqual([
      "admin",
      "api-keys",
      "audit",
      "compliance",
      "device-page",
      "external-roles",
      "identity",
      "invitations",
      "members",
      "role-grants",
      "service",
      "settings",
      "whoami",
      "workspaces",
    ]);
  });

  it.each(groups)("group %s has exactly the group files", (group) => {
    const expected = PAGE_GROUPS.includes(group) ? [...GROUP_FILES, "views.ts"].sort() : GROUP_FILES;
    expect(readdirSync(join(SRC, "routes", group)).sort()).toEqual(expected);
  });

  it("every import stays in its layer or goes to a layer the table allows", () => {
    const refused = [...graph].flatMap(([from, targets]) => {
      const own = layerOf(from);
      if (own === "entry") return [];
      const allowed = new Set([own, ...(layers.get(own) ?? [])]);
      return targets.filter((to) => !allowed.has(layerOf(to))).map((to) => `${from} -> ${to}`);
    });
    expect(refused).toEqual([]);
  });

  it("a group reaches another group only through its service or schemas", () => {
    const reaches = [...graph].flatMap(([from, targets]) =>
      targets
        .filter((to) => groupOf(from) && groupOf(to) && groupOf(from) !== groupOf(to))
        .filter((to) => !/\/(service|schemas)\.ts$/.test(to))
        .map((to) => `${from} -> ${to}`),
    );
    expect(reaches).toEqual([]);
  });

  it("has no import cycles", () => {
    const cycles: string[] = [];
    const state = new Map<string, "visiting" | "done">();
    const visit = (file: string, trail: string[]) => {
      if (state.get(file) === "done") return;
      if (state.get(file) === "visiting") {
        cycles.push([...trail.slice(trail.indexOf(file)), file].join(" -> "));
        return;
      }
      state.set(file, "visiting");
      for (const next of graph.get(file) ?? []) visit(next, [...trail, file]);
      state.set(file, "done");
    };
    for (const file of graph.keys()) visit(file, []);
    expect(cycles).toEqual([]);
  });

  it("reads request variables with c.get(), never c.var (which copies every variable per read: decision 0030)", () => {
    const readers = sourceFiles(SRC)
      .filter((file) => /\bc\.var\b/.test(readFileSync(file, "utf8")))
      .map((file) => relative(SRC, file));
    expect(readers).toEqual([]);
  });

  it("every import resolves to a file under src/", () => {
    const missing = [...graph].flatMap(([from, targets]) => targets.filter((to) => !graph.has(to)).map((to) => `${from} -> ${to}`));
    expect(missing).toEqual([]);
  });
});
