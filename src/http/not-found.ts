import type { NotFoundHandler } from "hono";
import type { AppEnv } from "../core/env";
import { ApiError, onError } from "../core/errors";

type RouteEntry = { method: string; path: string };

/** Where a caller who tried one operation most likely meant another. */
const HINTS: Record<string, string> = {
  "GET /v1/me/workspaces": "To list your workspaces: GET /v1/workspaces.",
};

/** `/v1/workspaces/:workspace_id` -> a pattern matching one concrete path. */
function pathPattern(path: string): RegExp {
  const escaped = path.split(/(:\w+)/).map((part) => (part.startsWith(":") ? "[^/]+" : part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));
  return new RegExp(`^${escaped.join("")}$`);
}

/** An operation, not middleware: that is mounted for every method, or for some under a prefix (`POST /v1/*`). */
export const isOperation = (route: RouteEntry): boolean => route.method !== "ALL" && !route.path.endsWith("*");

/**
 * The one 404. For a path the API serves with other methods it names them, in the detail and in an
 * `Allow` header, and adds a hint where one operation is commonly mistaken for another.
 */
export function notFound(routes: readonly RouteEntry[]): NotFoundHandler<AppEnv> {
  const table = routes.filter(isOperation).map((r) => ({ method: r.method.toUpperCase(), pattern: pathPattern(r.path) }));
  return (c) => {
    const { method, path } = c.req;
    const allowed = [...new Set(table.filter((r) => r.pattern.test(path)).map((r) => r.method))];
    const hint = HINTS[`${method} ${path}`];
    const detail = [
      `No route for ${method} ${path}.`,
      ...(allowed.length > 0 ? [`This path allows: ${allowed.join(", ")}.`] : []),
      ...(hint ? [hint] : []),
    ].join(" ");
    const res = onError(new ApiError("not_found", detail), c);
    if (allowed.length > 0) res.headers.set("Allow", allowed.join(", "));
    return res;
  };
}
