#!/usr/bin/env node
// `npm run audit:verify -- <export.ndjson> [--keys <file or URL>] [--trusted <checkpoint file>] [--consistency <file or URL>]
// [--api <base URL>]`: checks an audit export offline (docs/guides/audit.md, "Proving the trail"). Every line but the
// last is an event its log's signed checkpoint includes (RFC 9162 inclusion proof), the last line holds those
// checkpoints, signed by a key of the region (/.well-known/audit-keys unless --keys), and the lines are in the
// export's order with none repeated. A line deleted from the export leaves every other line provable, so no check
// of the file alone sees it; --trusted (repeatable) checks that the log extends a checkpoint kept earlier (RFC 9162
// consistency proof, from --consistency or the API with PLATFORM_API_KEY), so the log itself lost nothing it held.
// --api names the API (keys and consistency proofs) where the origin's host is not it (locally: http://localhost:8787).
// Exit 0 with one line on stdout; 1 with the first problem, by line number, on stderr; 2 on a usage error.
import { createReadStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { createInterface } from "node:readline";
import { Readable } from "node:stream";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { eventLeafHash } from "../src/security/transparency/leaf.ts";
import { equalHashes, verifyConsistency, verifyInclusion } from "../src/security/transparency/merkle.ts";
import { fromBase64, openNote, parseCheckpointBody, parseVerifierKey } from "../src/security/transparency/signed-note.ts";

const USAGE =
  "usage: npm run audit:verify -- <export.ndjson> [--keys <file or URL>] [--trusted <checkpoint file>] " +
  "[--consistency <file or URL>] [--api <base URL>]";
const HASH_BYTES = 32;
const FETCH_TIMEOUT_MS = 30_000;

/** A problem found: where (a 1-based line of the export, when it is about one) and what. */
class Failure extends Error {
  constructor(line, message) {
    super(line === undefined ? message : `line ${line}: ${message}`);
    this.line = line;
  }
}

const isObject = (value) => typeof value === "object" && value !== null && !Array.isArray(value);
const plural = (count, noun) => `${count} ${noun}${count === 1 ? "" : "s"}`;

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

// --- reading ----------------------------------------------------------------------------------------------

/** The export's lines, streamed: the file is read twice and never held whole. */
async function* linesOf(source) {
  const input = "text" in source ? Readable.from([source.text]) : createReadStream(source.path);
  const reader = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  try {
    yield* reader;
  } catch (err) {
    throw new Failure(undefined, `cannot read ${source.path}: ${err.message}`);
  } finally {
    reader.close();
    input.destroy();
  }
}

const isUrl = (source) => /^https?:\/\//i.test(source);

/** A local file's text, or an http(s) URL's body (a non-2xx answer is a failure naming it). */
async function readSource(source, what, headers = {}) {
  if (!isUrl(source)) {
    try {
      return await readFile(source, "utf8");
    } catch (err) {
      throw new Failure(undefined, `cannot read ${what} from ${source}: ${err.message}`);
    }
  }
  let response;
  try {
    response = await fetch(source, { headers, signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  } catch (err) {
    throw new Failure(
      undefined,
      `cannot fetch ${what} from ${source}: ${err.cause?.message ?? err.message} (the API the export names is not there: pass ` +
        "--keys <file>, and --api <base URL> or --consistency <file>)",
    );
  }
  const body = await response.text();
  const hint =
    response.status === 401 || response.status === 403
      ? " (PLATFORM_API_KEY must hold an identity token or API key with Audit.view: an owner's or admin's)"
      : "";
  if (!response.ok) throw new Failure(undefined, `GET ${source} (${what}) answered ${response.status}: ${body.slice(0, 300)}${hint}`);
  return body;
}

// --- origins ------------------------------------------------------------------------------------------------

const LOCAL_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** The API of a log: its origin line names the host (`<host>/audit/...`); a local one serves plain http. */
function apiOfOrigin(origin) {
  const host = origin.split("/")[0];
  let hostname;
  try {
    hostname = new URL(`http://${host}`).hostname;
  } catch {
    throw new Failure(undefined, `cannot tell the API of the log ${origin}: pass --keys (and --api)`);
  }
  return `${LOCAL_HOSTS.has(hostname) ? "http" : "https"}://${host}`;
}

/** Whose trail a log is: the workspace id or `operator-log` of its origin (`<host>/audit/<scope>/<year>`). */
function scopeOf(origin) {
  return /^[^/]+\/audit\/([^/]+)\/[0-9]{4}$/.exec(origin)?.[1];
}

/** A workspace log's origin is `<host>/audit/<workspace id>/<year>`; the operator log's (`operator-log`) names none. */
function workspaceLogOf(origin) {
  const match = /^[^/]+\/audit\/([^/]+)\/([0-9]{4})$/.exec(origin);
  return match && match[1] !== "operator-log" ? { workspace: match[1], year: match[2] } : undefined;
}

/** The log the keys are fetched for: the first line's, else the first checkpoint's (read, not yet verified). */
function firstOrigin(firstLine, notes) {
  const log = parseJson(firstLine ?? "")?.proof?.log;
  if (typeof log === "string" && log !== "") return log;
  return notes[0]?.split("\n")[0] || undefined;
}

// --- keys and checkpoints -----------------------------------------------------------------------------------

async function loadVerifiers(source) {
  const text = await readSource(source, "the verifier keys");
  const verifiers = [];
  for (const [i, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    if (line === "") continue;
    const verifier = await parseVerifierKey(line);
    if (!verifier) {
      // A signer key is a secret: say what it is, never echo it.
      const shown = /PRIVATE\+KEY/.test(line) ? "a signing (private) key: keep it secret, and pass its verifier key" : line;
      throw new Failure(undefined, `${source} line ${i + 1} is not a note verifier key (<name>+<hex id>+<base64 key>): ${shown}`);
    }
    verifiers.push(verifier);
  }
  if (verifiers.length === 0) throw new Failure(undefined, `${source} holds no verifier key`);
  return verifiers;
}

/** Who signed a note, as `name+<hex key id>`, for a message about a signature no known key made. */
function signerNamesOf(note) {
  const signatures = note.slice(note.lastIndexOf("\n\n") + 2).split("\n");
  return signatures
    .filter((line) => line.startsWith("\u2014 "))
    .map((line) => {
      const [name, encoded] = line.slice(2).split(" ");
      const id = fromBase64(encoded ?? "")?.subarray(0, 4) ?? new Uint8Array();
      return `${name}+${Array.from(id, (byte) => byte.toString(16).padStart(2, "0")).join("")}`;
    })
    .join(", ");
}

/**
 * The checkpoint a signed note states, or what is wrong with it: openNote says only "no" for both a malformed
 * note and a bad signature, so the note is first read without keys to tell them apart.
 */
async function openSigned(note, verifiers) {
  const unverified = await openNote(note, []);
  if (!unverified) return { problem: "is not a signed note" };
  const origin = unverified.body.split("\n")[0];
  const opened = await openNote(note, verifiers);
  if (!opened) return { origin, problem: "has a signature by a known key that does not verify: the checkpoint was altered or forged" };
  if (opened.signedBy.length === 0) return { origin, problem: `is not signed by a known key (signed by ${signerNamesOf(note)})` };
  const checkpoint = parseCheckpointBody(opened.body);
  if (!checkpoint) return { origin, problem: "is not a checkpoint (origin, tree size, root hash)" };
  return { checkpoint };
}

/** The last line: `{"checkpoints": [<signed note>, ...]}`. */
function readFooter(last) {
  if (!last) throw new Failure(undefined, "the file is empty: an export ends with a line of checkpoints");
  const value = parseJson(last.text);
  if (!isObject(value) || !Array.isArray(value.checkpoints) || "proof" in value) {
    throw new Failure(
      last.number,
      'the last line is not the checkpoints line ({"checkpoints": [...]}): the export is cut short or lost it',
    );
  }
  const notes = value.checkpoints;
  const notString = notes.findIndex((note) => typeof note !== "string");
  if (notString >= 0) throw new Failure(last.number, `checkpoint ${notString + 1} of the checkpoints line is not a string`);
  return { line: last.number, notes };
}

/** The footer's checkpoints by origin, each opened with the keys. */
async function openFooter(footer, verifiers) {
  const checkpoints = new Map();
  for (const [i, note] of footer.notes.entries()) {
    const { checkpoint, origin, problem } = await openSigned(note, verifiers);
    if (problem) throw new Failure(footer.line, `checkpoint ${i + 1}${origin ? ` (${origin})` : ""} ${problem}`);
    if (checkpoints.has(checkpoint.origin)) throw new Failure(footer.line, `two checkpoints of ${checkpoint.origin}`);
    // An export is of one trail (a workspace's, or the operator log): its logs differ only by year.
    const [other] = checkpoints.keys();
    if (other !== undefined && other.replace(/\/[0-9]{4}$/, "") !== checkpoint.origin.replace(/\/[0-9]{4}$/, "")) {
      throw new Failure(footer.line, `checkpoints of two trails, ${other} and ${checkpoint.origin}: an export is of one`);
    }
    checkpoints.set(checkpoint.origin, { ...checkpoint, events: 0 });
  }
  return checkpoints;
}

// --- lines ----------------------------------------------------------------------------------------------------

/** A line's `proof` with its hashes decoded, or what is wrong with it. */
function parseProof(proof) {
  if (!isObject(proof)) return { problem: "it is not an object" };
  const { log, index, size, hashes } = proof;
  if (typeof log !== "string" || log === "") return { problem: "no log" };
  if (!Number.isSafeInteger(size) || size < 1) return { problem: `size ${JSON.stringify(size)} is not a tree size` };
  if (!Number.isSafeInteger(index) || index < 0 || index >= size) {
    return { problem: `index ${JSON.stringify(index)} is not a leaf of ${size}` };
  }
  if (!Array.isArray(hashes)) return { problem: "no hashes" };
  const decoded = hashes.map((hash) => (typeof hash === "string" ? fromBase64(hash) : undefined));
  const bad = decoded.findIndex((hash) => hash?.length !== HASH_BYTES);
  if (bad >= 0) return { problem: `hash ${bad + 1} is not a base64 SHA-256 hash` };
  return { log, index, size, hashes: decoded };
}

/**
 * The export's order: oldest first by timestamp (as text, as the store sorts it), then by leaf index; years
 * ascending, so one log's lines are consecutive. Within a log the pair (timestamp, index) strictly increases:
 * that catches a moved or repeated line. Index alone need not increase: the store numbers events in arrival
 * order, and an event written earlier can arrive later.
 */
function checkOrder(number, timestamp, proof, order) {
  if (proof.log !== order.log) {
    if (order.logs.has(proof.log)) {
      throw new Failure(number, `a line of ${proof.log} after lines of ${order.log}: a log's lines are consecutive`);
    }
    order.logs.add(proof.log);
    order.log = proof.log;
    order.previousIndex = undefined;
  }
  const year = /\/([0-9]{4})$/.exec(proof.log)?.[1];
  if (year && !timestamp.startsWith(`${year}-`)) {
    throw new Failure(number, `its timestamp ${timestamp} is not in the year of its log ${proof.log}`);
  }
  const previous = order.previous;
  if (previous && timestamp < previous.timestamp) {
    throw new Failure(
      number,
      `out of order: its timestamp ${timestamp} is earlier than that of line ${previous.line} (${previous.timestamp})`,
    );
  }
  if (previous && timestamp === previous.timestamp && order.previousIndex !== undefined) {
    if (proof.index === order.previousIndex) {
      throw new Failure(number, `repeats line ${previous.line} (leaf ${proof.index} of ${proof.log})`);
    }
    if (proof.index < order.previousIndex) {
      throw new Failure(
        number,
        `out of order: leaf ${proof.index} after leaf ${order.previousIndex} (line ${previous.line}) at the same timestamp`,
      );
    }
  }
  order.previous = { line: number, timestamp };
  order.previousIndex = proof.index;
}

function verifyLine(number, text, checkpoints, order) {
  if (text.trim() === "") throw new Failure(number, "is empty: an export has one event a line");
  const value = parseJson(text);
  if (!isObject(value)) throw new Failure(number, "is not a JSON object");
  if (!("proof" in value)) {
    throw new Failure(number, "checkpoints" in value ? "a checkpoints line before the last line" : "the event has no proof");
  }
  // The line exactly as the export writes it (JSON.stringify of what it parses to): else a repeated key (which
  // parsers resolve differently: one may read the forged first value), or a line reformatted after export.
  if (JSON.stringify(value) !== text.replace(/\r$/, "")) {
    throw new Failure(number, "is not as the export wrote it (a repeated key, or the line was reformatted)");
  }
  const { proof: rawProof, ...event } = value;
  const proof = parseProof(rawProof);
  if (proof.problem) throw new Failure(number, `its proof is malformed: ${proof.problem}`);
  const checkpoint = checkpoints.get(proof.log);
  if (!checkpoint) throw new Failure(number, `the checkpoints line has no checkpoint of its log ${proof.log}`);
  if (proof.size !== checkpoint.size) {
    throw new Failure(number, `its proof is against size ${proof.size}, the checkpoint of ${proof.log} is of size ${checkpoint.size}`);
  }
  if (typeof event.timestamp !== "string") throw new Failure(number, "the event has no timestamp");
  const scope = scopeOf(proof.log);
  const workspace = scope === "operator-log" ? null : scope;
  if (scope !== undefined && event.workspace_id !== workspace) {
    throw new Failure(number, `the event's workspace_id ${JSON.stringify(event.workspace_id)} is not that of its log ${proof.log}`);
  }
  checkOrder(number, event.timestamp, proof, order);
  let leaf;
  try {
    leaf = eventLeafHash(event);
  } catch (err) {
    throw new Failure(number, `the event is not RFC 8785 JSON (${err.message}): no log holds it`);
  }
  if (!verifyInclusion(proof.index, proof.size, leaf, proof.hashes, checkpoint.root)) {
    throw new Failure(
      number,
      `the event does not match its proof (inclusion fails against the checkpoint of ${proof.log} size ${checkpoint.size})`,
    );
  }
  checkpoint.events++;
}

/** The second pass: every line before the footer. */
async function verifyLines(source, footer, checkpoints) {
  const order = { log: undefined, logs: new Set(), previous: undefined, previousIndex: undefined };
  let number = 0;
  let events = 0;
  for await (const text of linesOf(source)) {
    number++;
    if (number >= footer.line) continue; // the footer, and blank lines after it
    verifyLine(number, text, checkpoints, order);
    events++;
  }
  for (const [origin, checkpoint] of checkpoints) {
    if (checkpoint.events === 0) throw new Failure(footer.line, `the checkpoint of ${origin} covers no line of the export`);
  }
  return events;
}

// --- trusted checkpoints -------------------------------------------------------------------------------------

/** A kept note, whatever blank lines its saving added at the end (a note ends with exactly one newline). */
const noteText = (text) => `${text.replace(/\s+$/, "")}\n`;

/** The bearer token for the API's consistency route (a URL given with --consistency too): PLATFORM_API_KEY. */
function apiHeaders(options) {
  const apiKey = options.apiKey ?? process.env.PLATFORM_API_KEY;
  return apiKey ? { authorization: `Bearer ${apiKey}` } : {};
}

async function readConsistencyProofs(sources, options) {
  const proofs = [];
  for (const source of sources) {
    proofs.push({ source, value: parseJson(await readSource(source, "a consistency proof", isUrl(source) ? apiHeaders(options) : {})) });
  }
  return proofs;
}

/** The consistency proof from `trusted` to `current`: one given whose log is theirs, else the API's. */
async function consistencyProof(trusted, current, given, options) {
  const wanted = `${current.origin} from ${trusted.size} to ${current.size}`;
  // The one given for this log and kept size; else any given for this log (which the checks below then refuse).
  let found =
    given.find(({ value }) => value?.log === current.origin && value?.from === trusted.size) ??
    given.find(({ value }) => value?.log === current.origin);
  if (!found) {
    const log = workspaceLogOf(current.origin);
    if (!log) {
      throw new Failure(
        undefined,
        `no consistency proof of ${current.origin} given, and its origin names no workspace: pass --consistency`,
      );
    }
    const api = (options.api ?? apiOfOrigin(current.origin)).replace(/\/+$/, "");
    const url = `${api}/v1/${log.workspace}/audit/consistency?year=${log.year}&from=${trusted.size}&to=${current.size}`;
    found = { source: url, value: parseJson(await readSource(url, "the consistency proof", apiHeaders(options))) };
  }
  const { source, value } = found;
  if (!isObject(value) || value.log !== current.origin || value.from !== trusted.size || value.to !== current.size) {
    const stated = isObject(value) ? `${value.log} from ${value.from} to ${value.to}` : "not a JSON object";
    throw new Failure(undefined, `the consistency proof from ${source} is not of ${wanted} (it is ${stated})`);
  }
  const hashes = Array.isArray(value.hashes) ? value.hashes.map((hash) => (typeof hash === "string" ? fromBase64(hash) : undefined)) : [];
  if (!Array.isArray(value.hashes) || hashes.some((hash) => hash?.length !== HASH_BYTES)) {
    throw new Failure(undefined, `the consistency proof from ${source} does not hold base64 SHA-256 hashes`);
  }
  return hashes;
}

/** Whether the export's checkpoint of the trusted checkpoint's log extends it: the log lost and changed nothing since. */
async function checkTrusted(path, verifiers, checkpoints, footer, given, options) {
  const { checkpoint: trusted, problem } = await openSigned(noteText(await readSource(path, "the trusted checkpoint")), verifiers);
  if (problem) throw new Failure(undefined, `the trusted checkpoint ${path} ${problem}`);
  const current = checkpoints.get(trusted.origin);
  if (!current) throw new Failure(undefined, `the export has no checkpoint of ${trusted.origin} (the trusted checkpoint ${path})`);
  const name = `the trusted checkpoint of ${trusted.origin} size ${trusted.size} (${path})`;
  const exported = `the export's checkpoint of size ${current.size}`;
  if (trusted.size > current.size) throw new Failure(footer.line, `${exported} is older than ${name}: a log only grows`);
  if (trusted.size === current.size) {
    if (!equalHashes(trusted.root, current.root)) {
      throw new Failure(footer.line, `${exported} has another root than ${name}: the log was rewritten`);
    }
  } else if (trusted.size > 0) {
    // A kept checkpoint of the empty tree needs no proof: every tree extends it.
    const hashes = await consistencyProof(trusted, current, given, options);
    if (!verifyConsistency(trusted.size, current.size, trusted.root, current.root, hashes)) {
      throw new Failure(
        footer.line,
        `${exported} does not extend ${name}: the consistency proof fails (the log was changed, not only appended to)`,
      );
    }
  }
  return `the trusted checkpoint of ${trusted.origin} size ${trusted.size}`;
}

// --- the whole ----------------------------------------------------------------------------------------------------

/** The first pass: the first line (whose log names the keys' host) and the last non-blank one (the footer). */
async function scan(source) {
  let number = 0;
  let first;
  let last;
  for await (const text of linesOf(source)) {
    number++;
    if (number === 1) first = text;
    if (text.trim() !== "") last = { number, text };
  }
  return { first, last };
}

/**
 * Where the keys come from: --keys, else the API of the first log (what the export itself names, so the success
 * line says so: an auditor who pins the region's keys passes --keys); none for an export without checkpoints.
 */
function keysSourceOf(keys, api, origin, notesToOpen) {
  if (keys) return { source: keys, named: false };
  if (api) return { source: `${api.replace(/\/+$/, "")}/.well-known/audit-keys`, named: false };
  if (origin) return { source: `${apiOfOrigin(origin)}/.well-known/audit-keys`, named: true };
  if (notesToOpen > 0) throw new Failure(undefined, "the export names no log whose keys to fetch: pass --keys");
  return undefined;
}

const asList = (value) => (value === undefined ? [] : [value].flat());

/**
 * Verifies an export: `source` is a file path (or `{ text }`, the export's contents). Options are the CLI's
 * flags (`trusted` and `consistency` may be lists), plus `apiKey` (default: PLATFORM_API_KEY).
 */
export async function verifyExport(source, options = {}) {
  const input = typeof source === "string" ? { path: source } : source;
  try {
    const { first, last } = await scan(input);
    const footer = readFooter(last);
    const trustedPaths = asList(options.trusted);
    const keys = keysSourceOf(options.keys, options.api, firstOrigin(first, footer.notes), footer.notes.length + trustedPaths.length);
    const verifiers = keys ? await loadVerifiers(keys.source) : [];
    const checkpoints = await openFooter(footer, verifiers);
    const events = await verifyLines(input, footer, checkpoints);
    const given = await readConsistencyProofs(asList(options.consistency), options);
    const extended = [];
    for (const path of trustedPaths) extended.push(await checkTrusted(path, verifiers, checkpoints, footer, given, options));
    const logs = [...checkpoints.values()].map(({ origin, size, events }) => ({ origin, size, events }));
    const covered = logs.map((log) => `${log.origin} size ${log.size}`).join(", ") || "none";
    const trusted = extended.length > 0 ? `; extends ${extended.join(", ")}` : "";
    const fetched = keys?.named ? `; keys from ${keys.source}, the host the export names` : "";
    const message = `verified ${plural(events, "event")} in ${plural(logs.length, "log")} (checkpoints: ${covered})${trusted}${fetched}`;
    return { ok: true, message, events, logs };
  } catch (err) {
    if (err instanceof Failure) return { ok: false, line: err.line, message: err.message };
    throw err;
  }
}

function cliArguments(argv) {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        keys: { type: "string" },
        trusted: { type: "string", multiple: true },
        consistency: { type: "string", multiple: true },
        api: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
    if (values.help) return { help: true };
    if (values.api !== undefined && !isUrl(values.api)) {
      console.error(`--api takes the API's base URL (http:// or https://, without /v1): ${values.api}`);
      return undefined;
    }
    if (positionals.length !== 1) return undefined;
    // npm runs scripts from the project's root; paths on the command line are the caller's (npm's INIT_CWD).
    const here = (path) => (isUrl(path) ? path : resolve(process.env.INIT_CWD ?? process.cwd(), path));
    const { keys, trusted, consistency, api } = values;
    return {
      file: here(positionals[0]),
      options: {
        keys: keys && here(keys),
        trusted: trusted?.map(here),
        consistency: consistency?.map(here),
        api: api?.replace(/\/v1\/?$/, ""),
      },
    };
  } catch (err) {
    console.error(err.message);
    return undefined;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const args = cliArguments(process.argv.slice(2));
  if (args?.help) {
    console.log(USAGE);
    process.exit(0);
  }
  if (!args) {
    console.error(USAGE);
    process.exit(2);
  }
  const result = await verifyExport(args.file, args.options);
  if (result.ok) console.log(result.message);
  else console.error(result.message);
  process.exit(result.ok ? 0 : 1);
}
