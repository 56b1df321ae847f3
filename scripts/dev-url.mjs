// Where a running `npm run dev` says it listens (scripts/dev.mjs writes it, scripts/mint-identity.mjs reads it).
import { existsSync, readFileSync } from "node:fs";

export const DEV_URL_FILE = ".dev.url";
export const DEFAULT_PORT = 8787;
const DEFAULT_DEV_URL = `http://localhost:${DEFAULT_PORT}`;

/** The API to talk to, and where that came from: API_URL, else the running dev server's file, else the default. */
export function apiUrl() {
  if (process.env.API_URL) return { url: process.env.API_URL.replace(/\/$/, ""), source: "API_URL" };
  if (existsSync(DEV_URL_FILE))
    return { url: readFileSync(DEV_URL_FILE, "utf8").trim(), source: `${DEV_URL_FILE}, written by npm run dev` };
  return { url: DEFAULT_DEV_URL, source: "the default" };
}
