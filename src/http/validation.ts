import type { Hook } from "@hono/zod-openapi";
import { createMiddleware } from "hono/factory";
import type { z } from "zod";
import type { AppEnv } from "../core/env";
import { type ValidationErrorItem, validationError } from "../core/errors";
import { MAX_JSON_DEPTH } from "../core/limits";
import { hasLoneSurrogate } from "../core/unicode";

/**
 * Request validation failures in FastAPI's shape (`loc`, `msg`, `type`, `input`, `ctx`), so clients written
 * for the upstream API parse our 422s unchanged.
 */

const LOCATION: Record<string, string> = { json: "body", query: "query", param: "path", header: "header" };

/**
 * The value at `path` of what the client sent. A query parameter sent once arrives as a string where its
 * schema takes a list (the schema wraps it), so a scalar stands for a list of one at index 0.
 */
function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let value = input;
  for (const key of path) {
    if (key === 0 && value !== null && value !== undefined && typeof value !== "object") continue;
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

const quoted = (values: readonly unknown[]) => {
  const parts = values.map((v) => `'${String(v)}'`);
  return parts.length > 1 ? `${parts.slice(0, -1).join(", ")} or ${parts.at(-1)}` : (parts[0] ?? "");
};

const TYPE_MESSAGES: Record<string, [type: string, msg: string]> = {
  string: ["string_type", "Input should be a valid string"],
  number: ["int_type", "Input should be a valid integer"],
  int: ["int_type", "Input should be a valid integer"],
  boolean: ["bool_type", "Input should be a valid boolean"],
  array: ["list_type", "Input should be a valid list"],
  object: ["model_attributes_type", "Input should be a valid dictionary or object to extract fields from"],
};

function describe(issue: z.core.$ZodIssue, value: unknown): Pick<ValidationErrorItem, "type" | "msg" | "ctx"> {
  // A required field that is absent fails as a type or enum mismatch in zod; FastAPI calls it `missing`.
  if (value === undefined && issue.path.length > 0 && (issue.code === "invalid_type" || issue.code === "invalid_value")) {
    return { type: "missing", msg: "Field required" };
  }
  switch (issue.code) {
    case "invalid_type": {
      const [type, msg] = TYPE_MESSAGES[issue.expected] ?? ["value_error", issue.message];
      return { type, msg };
    }
    case "too_small": {
      const min = Number(issue.minimum);
      if (issue.origin === "string")
        return {
          type: "string_too_short",
          msg: `String should have at least ${min} character${min === 1 ? "" : "s"}`,
          ctx: { min_length: min },
        };
      if (issue.origin === "array" || issue.origin === "set")
        return { type: "too_short", msg: `List should have at least ${min} item${min === 1 ? "" : "s"}`, ctx: { min_length: min } };
      return { type: "greater_than_equal", msg: `Input should be greater than or equal to ${min}`, ctx: { ge: min } };
    }
    case "too_big": {
      const max = Number(issue.maximum);
      if (issue.origin === "string")
        return {
          type: "string_too_long",
          msg: `String should have at most ${max} character${max === 1 ? "" : "s"}`,
          ctx: { max_length: max },
        };
      if (issue.origin === "array" || issue.origin === "set")
        return { type: "too_long", msg: `List should have at most ${max} item${max === 1 ? "" : "s"}`, ctx: { max_length: max } };
      return { type: "less_than_equal", msg: `Input should be less than or equal to ${max}`, ctx: { le: max } };
    }
    case "invalid_format": {
      if (issue.format === "regex") {
        // zod reports the pattern as a regex literal ("/^…$/"); FastAPI shows the bare pattern.
        const raw = String((issue as { pattern?: unknown }).pattern ?? "");
        const pattern = /^\/(.*)\/[a-z]*$/s.exec(raw)?.[1] ?? raw;
        // A schema may say what its pattern means in words (zod's own messages all start "Invalid").
        const msg = issue.message.startsWith("Invalid") ? `String should match pattern '${pattern}'` : issue.message;
        return { type: "string_pattern_mismatch", msg, ctx: { pattern } };
      }
      if (issue.format === "uuid") return { type: "uuid_parsing", msg: "Input should be a valid UUID" };
      if (issue.format === "email") return { type: "value_error", msg: "value is not a valid email address" };
      return { type: "value_error", msg: issue.message };
    }
    case "invalid_value": {
      // A boolean query parameter (z.stringbool()): FastAPI's wording, not the list of accepted spellings.
      if ((issue as { expected?: unknown }).expected === "stringbool")
        return { type: "bool_parsing", msg: "Input should be a valid boolean, unable to interpret input" };
      const expected = quoted(issue.values);
      return { type: "enum", msg: `Input should be ${expected}`, ctx: { expected } };
    }
    default:
      return { type: "value_error", msg: issue.message };
  }
}

/** Characters of a rejected value a 422 echoes back as `input`; longer values are cut to this, as text. */
export const MAX_ECHOED_INPUT = 100;

/** The rejected value as FastAPI echoes it, unless its JSON is long: then its first characters and "…". */
function echoed(value: unknown): unknown {
  const json = JSON.stringify(value) ?? "null";
  if (json.length <= MAX_ECHOED_INPUT) return value;
  const text = typeof value === "string" ? value : json;
  return `${text.slice(0, MAX_ECHOED_INPUT - 1)}…`;
}

/** An unknown field of a strict object (upstream's `additionalProperties: false`): one item per field, as pydantic's `extra="forbid"`. */
function extraFieldItems(issue: z.core.$ZodIssue, location: string, input: unknown): ValidationErrorItem[] {
  const keys = (issue as { keys?: string[] }).keys ?? [];
  const at = issue.path.map((p) => (typeof p === "number" ? p : String(p)));
  return keys.map((key) => ({
    loc: [location, ...at, key],
    msg: "Extra inputs are not permitted",
    type: "extra_forbidden",
    input: echoed(valueAt(input, [...issue.path, key])),
  }));
}

const isNullBranch = (branch: readonly z.core.$ZodIssue[]) =>
  branch.length === 1 && branch[0]?.code === "invalid_type" && branch[0].expected === "null";

/**
 * A nullable field (`T | null`, a union with null) that is neither: what was wrong is what T says, at
 * the field's own path, as pydantic reports an Optional field; zod alone says only "Invalid input".
 */
function nullableUnionIssues(issue: z.core.$ZodIssue): z.core.$ZodIssue[] | undefined {
  if (issue.code !== "invalid_union" || issue.errors.length !== 2) return undefined;
  const others = issue.errors.filter((branch) => !isNullBranch(branch));
  if (others.length !== 1) return undefined;
  return (others[0] ?? []).map((inner) => ({ ...inner, path: [...issue.path, ...inner.path] }) as z.core.$ZodIssue);
}

export function toValidationItems(issues: readonly z.core.$ZodIssue[], location: string, input: unknown): ValidationErrorItem[] {
  return issues.flatMap((issue): ValidationErrorItem[] => {
    const unwrapped = nullableUnionIssues(issue);
    if (unwrapped) return toValidationItems(unwrapped, location, input);
    if (issue.code === "unrecognized_keys") return extraFieldItems(issue, location, input);
    const value = valueAt(input, issue.path);
    const item: ValidationErrorItem = {
      loc: [location, ...issue.path.map((p) => (typeof p === "number" ? p : String(p)))],
      ...describe(issue, value),
    };
    item.input = echoed(value === undefined ? (issue.path.length > 0 ? valueAt(input, issue.path.slice(0, -1)) : null) : value);
    return [item];
  });
}

/** `defaultHook` of every router: turn a failed zod parse into the FastAPI-shaped 422. */
export const validationHook: Hook<unknown, AppEnv, string, unknown> = (result, _c) => {
  if (result.success) return;
  const { target, error, data } = result as unknown as { target: string; error: z.ZodError; data: unknown };
  throw validationError(toValidationItems(error.issues, LOCATION[target] ?? target, data));
};

/**
 * Whether the JSON text nests arrays and objects deeper than `limit`, by one pass over its characters:
 * no parse, no recursion, so a hostile body cannot exhaust the stack of anything that walks it later.
 */
function nestsDeeperThan(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (ch === "\\") i++;
      else if (ch === '"') inString = false;
    } else if (ch === '"') inString = true;
    else if (ch === "[" || ch === "{") {
      if (++depth > limit) return true;
    } else if (ch === "]" || ch === "}") depth--;
  }
  return false;
}

const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;

/** Where in a parsed body a string (or an object key) holds a lone surrogate, if anywhere. */
function loneSurrogateAt(value: unknown, path: (string | number)[]): (string | number)[] | undefined {
  if (typeof value === "string") return hasLoneSurrogate(value) ? path : undefined;
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const found = loneSurrogateAt(item, [...path, i]);
      if (found) return found;
    }
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  for (const [key, item] of Object.entries(value)) {
    if (hasLoneSurrogate(key)) return [...path, key];
    const found = loneSurrogateAt(item, [...path, key]);
    if (found) return found;
  }
  return undefined;
}

/**
 * Runs before a JSON body is validated: a missing body and malformed JSON become FastAPI's 422s
 * (`missing` at `["body"]`, `json_invalid`), where Hono alone would answer 400 or validate `{}`, and a body
 * nested deeper than MAX_JSON_DEPTH is refused before anything parses it, and one whose strings are not
 * Unicode (a lone surrogate escape) after. A non-JSON Content-Type is left
 * to the route's media-type gate (415).
 */
export const jsonBody = createMiddleware<AppEnv>(async (c, next) => {
  const contentType = c.req.header("content-type");
  if (contentType && !/^application\/([\w.-]+\+)?json\b/i.test(contentType)) return next();
  const text = await c.req.text();
  if (text.trim() === "") throw validationError([{ loc: ["body"], msg: "Field required", type: "missing", input: null }]);
  if (nestsDeeperThan(text, MAX_JSON_DEPTH)) {
    throw validationError([
      {
        loc: ["body"],
        msg: `JSON nesting is deeper than ${MAX_JSON_DEPTH} levels`,
        type: "json_too_deep",
        ctx: { max_depth: MAX_JSON_DEPTH },
      },
    ]);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    // FastAPI puts the character offset of the error in `loc`; V8 names it, except at end of input.
    const message = String(err);
    const position = Number(/position (\d+)/.exec(message)?.[1] ?? (/end of JSON input/i.test(message) ? text.length : 0));
    throw validationError([{ loc: ["body", position], msg: "JSON decode error", type: "json_invalid", ctx: { error: "Invalid JSON" } }]);
  }
  // Only a \uD800-\uDFFF escape can put a lone surrogate in a string (decoding UTF-8 never makes one): text
  // that is not Unicode, which nothing downstream can hash or canonicalize (the audit log's leaves: RFC 8785).
  const lone = SURROGATE_ESCAPE.test(text) ? loneSurrogateAt(parsed, []) : undefined;
  if (lone) {
    throw validationError([
      { loc: ["body", ...lone], msg: "Input should be valid Unicode text: a lone surrogate escape is not", type: "string_unicode" },
    ]);
  }
  await next();
});
