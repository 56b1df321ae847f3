/**
 * Every relative link in README.md and docs/ leads somewhere: to a file of the repository, and, where it
 * names a heading (`page.md#heading`, `#heading`), to a heading of that page.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "../..");

function markdownFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? markdownFiles(path) : path.endsWith(".md") ? [path] : [];
  });
}

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens. */
const anchorOf = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s-]/gu, "")
    .replace(/\s/g, "-");

function anchorsIn(file: string): Set<string> {
  const text = readFileSync(file, "utf8").replace(/```[\s\S]*?```/g, "");
  return new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map(([, heading]) => anchorOf(heading!)));
}

const pages = [resolve(ROOT, "README.md"), ...markdownFiles(resolve(ROOT, "docs"))];

it("finds the pages", () => {
  expect(pages.length).toBeGreaterThan(20);
});

it("every relative link of README.md and docs/ resolves, headings included", () => {
  const broken: string[] = [];
  for (const page of pages) {
    const text = readFileSync(page, "utf8").replace(/```[\s\S]*?```/g, "");
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target!)) continue; // http:, https:, mailto:
      const [path, anchor] = target!.split("#");
      const file = path ? resolve(dirname(page), path) : page;
      const where = `${relative(ROOT, page)} -> ${target}`;
      if (!existsSync(file)) broken.push(`${where}: no such file`);
      else if (anchor && file.endsWith(".md") && !anchorsIn(file).has(anchor)) broken.push(`${where}: no such heading`);
    }
  }
  expect(broken).toEqual([]);
});
