/** The bundle budget's reading of esbuild's metafile (scripts/bundle-budget.mjs; CI runs the script itself). */
import { describe, expect, it } from "vitest";
import { composition, foreignLocales } from "../../scripts/bundle-budget.mjs";

const metafile = (inputs: Record<string, number>) => ({
  inputs: Object.fromEntries(Object.keys(inputs).map((input) => [input, {}])),
  outputs: {
    "out/index.js.map": { inputs: {} },
    "out/index.js": { inputs: Object.fromEntries(Object.entries(inputs).map(([input, bytesInOutput]) => [input, { bytesInOutput }])) },
  },
});

describe("bundle budget", () => {
  it("sums the bundle's bytes per package, scoped packages and our source included, largest first", () => {
    const meta = metafile({
      "node_modules/zod/v4/core/schemas.js": 300,
      "node_modules/zod/v4/classic/schemas.js": 200,
      "node_modules/@hono/zod-openapi/dist/index.mjs": 100,
      "src/app.ts": 50,
      "src/errors.ts": 70,
    });
    expect(composition(meta)).toEqual([
      ["zod", 500],
      ["src", 120],
      ["@hono/zod-openapi", 100],
    ]);
  });

  it("finds zod's non-English locales, and only those", () => {
    const meta = metafile({
      "node_modules/zod/v4/locales/en.js": 1,
      "node_modules/zod/v4/locales/de.js": 1,
      "node_modules/zod/v4/locales/zh-CN.js": 1,
      "src/zod-locales.ts": 1,
    });
    expect(foreignLocales(meta)).toEqual(["node_modules/zod/v4/locales/de.js", "node_modules/zod/v4/locales/zh-CN.js"]);
    expect(foreignLocales(metafile({ "node_modules/zod/v4/locales/en.js": 1 }))).toEqual([]);
  });
});
