/**
 * The source layout the README describes holds: every route group has the same files, imports point only
 * downward (foundation <- authentication <- access <- groups <- app), and no module imports itself back
 * through others.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const SRC = resolve(import.meta.dirname, "../../src");
const GROUP_FILES = ["handlers.ts", "index.ts", "routes.ts", "schemas.ts", "service.ts"];
/** Folders that are not route groups; every other folder under src/ is one. */
const LAYER_FOLDERS = new Set(["db", "middleware", "authentication", "access", "audit-trail", "idempotency"]);
/** The composition root: the only modules that may import everything. */
const ROOT = new Set(["app.ts", "index.ts", "docs.ts", "scheduled.ts"]);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith(".ts") ? [path] : [];
  });
}

/** Relative imports of a file, as paths of files under src/ (type-only imports count too). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  return [...text.matchAll(/^(?:import|export)\b[^;]*?from "(\.[^"]+)";/gms)].map(([, spec]) => {
    const target = resolve(dirname(file), spec!);
    return relative(SRC, statSafe(`${target}.ts`) ? `${target}.ts` : join(target, "index.ts"));
  });
}

function statSafe(path: string) {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

const graph = new Map(sourceFiles(SRC).map((file) => [relative(SRC, file), importsOf(file)]));
const groups = readdirSync(SRC).filter((name) => statSync(join(SRC, name)).isDirectory() && !LAYER_FOLDERS.has(name));

/** 0 foundation (src/*.ts, db/, middleware/), 1 authentication, 2 access, 3 a group, 4 the composition root. */
function layerOf(path: string): number {
  const [top] = path.split("/");
  if (ROOT.has(path)) return 4;
  if (top === "authentication") return 1;
  if (top === "access") return 2;
  if (groups.includes(top!)) return 3;
  return 0;
}

describe("source layout", () => {
  it("finds the route groups", () => {
    expect(groups.sort()).toEqual(["admin", "api-keys", "audit", "auth-info", "compliance", "external-roles", "invitations", "members", "role-grants", "workspaces"]);
  });

  it.each(groups)("group %s has exactly the group files", (group) => {
    expect(readdirSync(join(SRC, group)).sort()).toEqual(GROUP_FILES);
  });

  it("imports only point to a lower layer, or within a layer", () => {
    const upward = [...graph].flatMap(([from, targets]) => targets.filter((to) => layerOf(to) > layerOf(from)).map((to) => `${from} -> ${to}`));
    expect(upward).toEqual([]);
  });

  it("a group reaches another group only through its service or schemas", () => {
    const reaches = [...graph].flatMap(([from, targets]) =>
      targets
        .filter((to) => layerOf(from) === 3 && layerOf(to) === 3 && from.split("/")[0] !== to.split("/")[0])
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

  it("every import resolves to a file under src/", () => {
    const missing = [...graph].flatMap(([from, targets]) => targets.filter((to) => !graph.has(to)).map((to) => `${from} -> ${to}`));
    expect(missing).toEqual([]);
  });
});
