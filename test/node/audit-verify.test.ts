/**
 * The offline verifier (scripts/audit-verify.mjs) against exports built here with the log's own modules, as an
 * audit store builds them (tiles, inclusion proofs against a signed checkpoint, the checkpoints line last): an
 * untouched export verifies, and every tampering fails naming the line it is on. No Worker runs here: what
 * the API writes into an export is the Worker's tests' business; this is what an auditor's copy can show.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyExport } from "../../scripts/audit-verify.mjs";
import { eventLeafHash } from "../../src/security/transparency/leaf";
import { consistencyProof, inclusionProof, rootOf, type SubtreeReader } from "../../src/security/transparency/merkle";
import {
  checkpointBody,
  generateKeyPair,
  parseSignerKey,
  type Signer,
  signNote,
  toBase64,
} from "../../src/security/transparency/signed-note";
import { appendLeaf, subtreeReader } from "../../src/security/transparency/tiled-tree";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const WORKSPACE = "6f1c2b3a-4d5e-4f60-8a7b-9c0d1e2f3a4b";
const ACTOR = "0b7e6d5c-4b3a-4291-8f7e-6d5c4b3a2910";
const originOf = (year: number, host = "localhost") => `${host}/audit/${WORKSPACE}/${year}`;

type AuditEvent = Record<string, unknown> & { timestamp: string };

const ACTIONS = ["workspace.updated", "api_key.created", "member.added", "api_key.revoked"];

/**
 * Leaf `i` of a year's log, in the shape list-audit-events shows. Timestamps mostly follow the leaves, but
 * leaf 5 was written before leaf 4 and arrived after it, and leaves 7 and 8 share a timestamp: the export's
 * order (timestamp, then leaf index) then differs from the leaves' order, as it can in a real store.
 */
function auditEvent(year: number, i: number): AuditEvent {
  const minute = i === 5 ? 3.5 : i === 8 ? 7 : i;
  const timestamp = new Date(Date.UTC(year, 2, 1, 10) + minute * 60_000).toISOString();
  return {
    id: `00000000-0000-4000-8000-${String(year * 1000 + i).padStart(12, "0")}`,
    workspace_id: WORKSPACE,
    timestamp,
    service: "platform",
    action: ACTIONS[i % ACTIONS.length],
    actor_entity_id: i % 3 === 0 ? null : ACTOR,
    actor_credential_id: null,
    resource_type: "workspace",
    resource_id: WORKSPACE,
    resource_name: `Ünïcode wörkspace ${i} \u2713`,
    metadata: i % 2 === 0 ? { changed: ["name"], previous: { name: `old ${i}` }, count: i * 1.5 } : null,
    ip_address: "203.0.113.7",
    user_agent: "audit-verify-test/1.0",
    phi_accessed: i % 5 === 0,
  };
}

const eventsOf = (year: number, count: number) => Array.from({ length: count }, (_, i) => auditEvent(year, i));

/** A store's tree over `events` (leaf i = events[i]), in tiles kept in a Map. */
function treeOf(events: AuditEvent[]): SubtreeReader {
  const tiles = new Map<string, Uint8Array>();
  const storage = {
    read: (level: number, index: number) => tiles.get(`${level}/${index}`),
    write: (level: number, index: number, hashes: Uint8Array) => void tiles.set(`${level}/${index}`, hashes),
  };
  for (const [i, event] of events.entries()) appendLeaf(storage, i, eventLeafHash(event));
  return subtreeReader(storage);
}

type Log = { origin: string; events: AuditEvent[]; tree: SubtreeReader };
const logOf = (origin: string, events: AuditEvent[]): Log => ({ origin, events, tree: treeOf(events) });

const checkpoint = (log: Log, size: number, signer: Signer) =>
  signNote(checkpointBody({ origin: log.origin, size, root: rootOf(size, log.tree) }), signer);

/** The export's lines of one log at `size`: the leaves `shown` admits, by timestamp then index, with their proofs. */
function exportedLines(log: Log, size: number, shown: (index: number) => boolean = () => true): string[] {
  const rows = log.events.slice(0, size).flatMap((event, index) => (shown(index) ? [{ event, index }] : []));
  rows.sort((a, b) => (a.event.timestamp === b.event.timestamp ? a.index - b.index : a.event.timestamp < b.event.timestamp ? -1 : 1));
  return rows.map(({ event, index }) => {
    const hashes = inclusionProof(index, size, log.tree).map(toBase64);
    return JSON.stringify({ ...event, proof: { log: log.origin, index, size, hashes } });
  });
}

const exportOf = (parts: { lines: string[]; note: string }[]) =>
  `${[...parts.flatMap((part) => part.lines), JSON.stringify({ checkpoints: parts.map((part) => part.note) })].join("\n")}\n`;

/** The export with its lines (1-based, the footer included) changed by `change`. */
function edited(text: string, change: (lines: string[]) => void): string {
  const lines = ["", ...text.slice(0, -1).split("\n")];
  change(lines);
  return `${lines.slice(1).join("\n")}\n`;
}

const eventAt = (text: string, line: number) => JSON.parse(text.split("\n")[line - 1]!) as AuditEvent & { proof: { index: number } };

const consistencyJson = (log: Log, from: number, to: number) =>
  JSON.stringify({ log: log.origin, from, to, hashes: consistencyProof(from, to, log.tree).map(toBase64) });

let dir: string;
let signer: Signer;
let keysFile: string;
let log2025: Log;
let log2026: Log;
/** 17 lines of 2025 (its first two leaves fall before the export's range), 23 of 2026, the footer on line 41. */
let untouched: string;
let exportFile: string;
const FOOTER = 41;

async function write(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

const verify = (text: string, options: Parameters<typeof verifyExport>[1] = {}) => verifyExport({ text }, { keys: keysFile, ...options });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "audit-verify-"));
  const pair = await generateKeyPair("localhost/audit");
  signer = (await parseSignerKey(pair.signer))!;
  keysFile = await write("keys.txt", `${pair.verifier}\n\n`);
  log2025 = logOf(originOf(2025), eventsOf(2025, 19));
  log2026 = logOf(originOf(2026), eventsOf(2026, 23));
  untouched = exportOf([
    { lines: exportedLines(log2025, 19, (index) => index >= 2), note: await checkpoint(log2025, 19, signer) },
    { lines: exportedLines(log2026, 23), note: await checkpoint(log2026, 23, signer) },
  ]);
  exportFile = await write("export.ndjson", untouched);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

type Run = { code: number; stdout: string; stderr: string };
function runCli(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, ["scripts/audit-verify.mjs", ...args], { cwd: ROOT }, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code) : 0, stdout, stderr });
    });
  });
}

describe("the command", () => {
  it("verifies an untouched export: exit 0 and one line naming the checkpoints", async () => {
    const run = await runCli([exportFile, "--keys", keysFile]);
    expect(run).toEqual({
      code: 0,
      stdout: `verified 40 events in 2 logs (checkpoints: ${originOf(2025)} size 19, ${originOf(2026)} size 23)\n`,
      stderr: "",
    });
  });

  it("fails a tampered export with exit 1 and the line on stderr", async () => {
    const tampered = await write(
      "tampered.ndjson",
      edited(untouched, (lines) => (lines[7] = lines[7]!.replace("203.0.113.7", "198.51.100.1"))),
    );
    const run = await runCli([tampered, "--keys", keysFile]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe("");
    expect(run.stderr).toBe(
      `line 7: the event does not match its proof (inclusion fails against the checkpoint of ${originOf(2025)} size 19)\n`,
    );
  });

  it("answers a usage error with exit 2 and the usage line", async () => {
    for (const args of [[], [exportFile, "--key", keysFile], [exportFile, exportFile]]) {
      const run = await runCli(args);
      expect(run.code, args.join(" ")).toBe(2);
      expect(run.stderr).toContain("usage: npm run audit:verify -- <export.ndjson>");
    }
  });
});

describe("the command's files", () => {
  it("reads paths relative to the caller's directory (npm's INIT_CWD), answers --help, and never echoes a signing key", async () => {
    const relative = await new Promise<Run>((resolve) => {
      execFile(
        process.execPath,
        ["scripts/audit-verify.mjs", "export.ndjson", "--keys", "keys.txt"],
        { cwd: ROOT, env: { ...process.env, INIT_CWD: dir } },
        (error, stdout, stderr) => resolve({ code: error ? Number(error.code) : 0, stdout, stderr }),
      );
    });
    expect(relative).toMatchObject({ code: 0, stdout: expect.stringMatching(/^verified 40 events/) });
    expect((await runCli(["--help"])).code).toBe(0);
    const { signer: secret } = await generateKeyPair("localhost/audit");
    const wrongKeys = await write("signer-as-keys.txt", `AUDIT_SIGNING_KEY=${secret}\n`);
    const result = await verify(untouched, { keys: wrongKeys });
    expect(result).toMatchObject({ ok: false, message: expect.stringContaining("a signing (private) key") });
    // The key is everything after PRIVATE+KEY+<name>+<id>+ (its base64 may itself hold a "+").
    const key = secret.split("+").slice(4).join("+");
    expect(key.length).toBeGreaterThan(40);
    expect(result.message).not.toContain(key);
  });
});

describe("an export tampered with", () => {
  it("verifies untouched, through the function too", async () => {
    // Leaf 5 was written before leaf 4: the export's lines 3 and 4 hold them in that order, which is no tampering.
    expect([eventAt(untouched, 3).proof.index, eventAt(untouched, 4).proof.index]).toEqual([5, 4]);
    expect(await verifyExport(exportFile, { keys: keysFile })).toMatchObject({
      ok: true,
      events: 40,
      logs: [
        { origin: originOf(2025), size: 19, events: 17 },
        { origin: originOf(2026), size: 23, events: 23 },
      ],
    });
  });

  it("fails a changed field on that line", async () => {
    const changed = edited(untouched, (lines) => {
      const event = JSON.parse(lines[25]!);
      lines[25] = JSON.stringify({ ...event, phi_accessed: !event.phi_accessed });
    });
    expect(await verify(changed)).toEqual({
      ok: false,
      line: 25,
      message: `line 25: the event does not match its proof (inclusion fails against the checkpoint of ${originOf(2026)} size 23)`,
    });
  });

  it("fails a proof moved to another line (the event is not the leaf it claims)", async () => {
    const moved = edited(untouched, (lines) => {
      const other = JSON.parse(lines[30]!);
      lines[29] = JSON.stringify({ ...JSON.parse(lines[29]!), proof: { ...other.proof, index: JSON.parse(lines[29]!).proof.index } });
    });
    expect(await verify(moved)).toMatchObject({ ok: false, line: 29, message: expect.stringContaining("does not match its proof") });
  });

  it("fails two lines swapped, at the second", async () => {
    const swapped = edited(untouched, (lines) => ([lines[20], lines[21]] = [lines[21]!, lines[20]!]));
    expect(await verify(swapped)).toMatchObject({ ok: false, line: 21, message: expect.stringContaining("line 21: out of order") });
  });

  it("fails two lines of the same timestamp swapped (the order is then the leaf index)", async () => {
    // Leaves 7 and 8 of 2026 share a timestamp: lines 25 and 26.
    expect([eventAt(untouched, 25).proof.index, eventAt(untouched, 26).proof.index]).toEqual([7, 8]);
    const swapped = edited(untouched, (lines) => ([lines[25], lines[26]] = [lines[26]!, lines[25]!]));
    expect(await verify(swapped)).toMatchObject({
      ok: false,
      line: 26,
      message: "line 26: out of order: leaf 7 after leaf 8 (line 25) at the same timestamp",
    });
  });

  it("fails a line moved into the other year's lines", async () => {
    const moved = edited(untouched, (lines) => lines.splice(30, 0, lines.splice(3, 1)[0]!));
    expect(await verify(moved)).toMatchObject({
      ok: false,
      line: 30,
      message: expect.stringContaining(`a line of ${originOf(2025)} after lines of`),
    });
  });

  it("fails a line with a repeated key (parsers differ on which value wins), or not written as the export writes lines", async () => {
    const repeated = edited(untouched, (lines) => {
      lines[25] = lines[25]!.replace('{"id"', '{"action":"api_key.deleted","id"');
    });
    expect(JSON.parse(repeated.split("\n")[24]!).action).not.toBe("api_key.deleted"); // JSON.parse keeps the last
    expect(await verify(repeated)).toMatchObject({ ok: false, line: 25, message: expect.stringContaining("a repeated key") });
    const reformatted = edited(untouched, (lines) => {
      lines[25] = JSON.stringify(JSON.parse(lines[25]!), null, 0).replace('","', '", "');
    });
    expect(await verify(reformatted)).toMatchObject({ ok: false, line: 25 });
  });

  it("fails an event that is not Unicode text (a lone surrogate), naming its line", async () => {
    const lone = edited(untouched, (lines) => {
      lines[25] = lines[25]!.replace('"service":"platform"', '"service":"\\ud800"');
    });
    expect(await verify(lone)).toMatchObject({ ok: false, line: 25, message: expect.stringContaining("is not RFC 8785 JSON") });
  });

  it("fails lines of another workspace's log, or two workspaces' checkpoints in one file", async () => {
    const stranger = "0c0c0c0c-0c0c-4c0c-8c0c-0c0c0c0c0c0c";
    const theirs = logOf(`localhost/audit/${stranger}/2026`, eventsOf(2026, 3));
    const spliced = exportOf([
      { lines: exportedLines(log2025, 19), note: await checkpoint(log2025, 19, signer) },
      { lines: exportedLines(theirs, 3), note: await checkpoint(theirs, 3, signer) },
    ]);
    expect(await verify(spliced)).toMatchObject({ ok: false, message: expect.stringContaining("checkpoints of two trails") });
    // An event claiming another workspace than its log names.
    const moved = edited(untouched, (lines) => {
      lines[25] = lines[25]!.replace(`"workspace_id":"${WORKSPACE}"`, `"workspace_id":"${stranger}"`);
    });
    expect(await verify(moved)).toMatchObject({ ok: false, line: 25, message: expect.stringContaining("is not that of its log") });
  });

  it("fails a forged line inserted, at that line", async () => {
    // A plausible event between lines 10 and 11: line 10's timestamp, a leaf index after it (line 11's proof).
    const forged = edited(untouched, (lines) => {
      const event = JSON.parse(lines[10]!);
      const forgery = {
        ...event,
        id: "00000000-0000-4000-8000-999999999999",
        action: "member.removed",
        proof: JSON.parse(lines[11]!).proof,
      };
      lines.splice(11, 0, JSON.stringify(forgery));
    });
    expect(await verify(forged)).toMatchObject({
      ok: false,
      line: 11,
      message: expect.stringContaining("line 11: the event does not match its proof"),
    });
  });

  it("fails a line repeated next to itself", async () => {
    const repeated = edited(untouched, (lines) => lines.splice(13, 0, lines[12]!));
    expect(await verify(repeated)).toMatchObject({
      ok: false,
      line: 13,
      message: `line 13: repeats line 12 (leaf ${eventAt(untouched, 12).proof.index} of ${originOf(2025)})`,
    });
  });

  it("fails a line repeated further on", async () => {
    const repeated = edited(untouched, (lines) => lines.splice(16, 0, lines[3]!));
    expect(await verify(repeated)).toMatchObject({ ok: false, line: 16, message: expect.stringContaining("line 16: out of order") });
  });

  it("fails without its checkpoints line, or with it elsewhere than last", async () => {
    const dropped = edited(untouched, (lines) => lines.pop());
    expect(await verify(dropped)).toMatchObject({
      ok: false,
      line: 40,
      message: expect.stringContaining("line 40: the last line is not the checkpoints line"),
    });
    const moved = edited(untouched, (lines) => lines.splice(20, 0, lines.pop()!));
    expect(await verify(moved)).toMatchObject({
      ok: false,
      line: 41,
      message: expect.stringContaining("the last line is not the checkpoints line"),
    });
    const twice = edited(untouched, (lines) => lines.splice(20, 0, lines[FOOTER]!));
    expect(await verify(twice)).toMatchObject({ ok: false, line: 20, message: "line 20: a checkpoints line before the last line" });
    expect(await verify("")).toMatchObject({ ok: false, line: undefined, message: expect.stringContaining("the file is empty") });
  });

  it("fails a checkpoint whose size or root was altered after signing", async () => {
    const root2026 = toBase64(rootOf(23, log2026.tree));
    const alterations = [
      (note: string) => note.replace(`\n23\n`, "\n22\n"),
      (note: string) => note.replace(root2026, toBase64(rootOf(22, log2026.tree))),
    ];
    for (const alter of alterations) {
      const forged = edited(untouched, (lines) => {
        const { checkpoints } = JSON.parse(lines[FOOTER]!);
        lines[FOOTER] = JSON.stringify({ checkpoints: [checkpoints[0], alter(checkpoints[1])] });
      });
      expect(forged).not.toBe(untouched);
      expect(await verify(forged)).toEqual({
        ok: false,
        line: FOOTER,
        message:
          `line 41: checkpoint 2 (${originOf(2026)}) has a signature by a known key that does not verify: ` +
          "the checkpoint was altered or forged",
      });
    }
  });

  it("fails a checkpoint signed only by a key the keys file does not hold", async () => {
    const stranger = (await parseSignerKey((await generateKeyPair("localhost/audit")).signer))!;
    const note = await checkpoint(log2026, 23, stranger);
    const resigned = edited(untouched, (lines) => {
      lines[FOOTER] = JSON.stringify({ checkpoints: [JSON.parse(lines[FOOTER]!).checkpoints[0], note] });
    });
    const result = await verify(resigned);
    expect(result).toMatchObject({
      ok: false,
      line: FOOTER,
      message: expect.stringContaining(`checkpoint 2 (${originOf(2026)}) is not signed by a known key`),
    });
    expect(result.message).toContain(`localhost/audit+${stranger.keyId.toString(16).padStart(8, "0")}`);
  });

  it("fails a proof against another size than the checkpoint's, and a log without a checkpoint", async () => {
    const resized = edited(untouched, (lines) => (lines[5] = lines[5]!.replace('"size":19', '"size":18')));
    expect(await verify(resized)).toMatchObject({ ok: false, line: 5, message: expect.stringContaining("its proof is against size 18") });
    const footerless2025 = edited(untouched, (lines) => {
      lines[FOOTER] = JSON.stringify({ checkpoints: [JSON.parse(lines[FOOTER]!).checkpoints[1]] });
    });
    expect(await verify(footerless2025)).toMatchObject({
      ok: false,
      line: 1,
      message: `line 1: the checkpoints line has no checkpoint of its log ${originOf(2025)}`,
    });
  });

  it("does not see a line deleted from the export: every other line still proves itself", async () => {
    // What shows a deletion is the log, not the file: see the --trusted cases below.
    const deleted = edited(untouched, (lines) => lines.splice(9, 1));
    expect(await verify(deleted)).toMatchObject({ ok: true, events: 39 });
    // Unless all of a log's lines go: its checkpoint then covers none.
    const yearGone = edited(untouched, (lines) => lines.splice(1, 17));
    expect(await verify(yearGone)).toMatchObject({
      ok: false,
      line: 24,
      message: `line 24: the checkpoint of ${originOf(2025)} covers no line of the export`,
    });
  });

  it("fails on a keys file with a malformed key, naming its line", async () => {
    const keys = await write("bad-keys.txt", `${signer.text}\n\nlocalhost/audit+00000000+AAAA\n`);
    expect(await verify(untouched, { keys })).toEqual({
      ok: false,
      line: undefined,
      message: `${keys} line 3 is not a note verifier key (<name>+<hex id>+<base64 key>): localhost/audit+00000000+AAAA`,
    });
  });
});

describe("key rotation", () => {
  it("verifies logs signed by a retired key and by its successor when the keys file holds both", async () => {
    const retired = (await parseSignerKey((await generateKeyPair("localhost/audit")).signer))!;
    const text = exportOf([
      { lines: exportedLines(log2025, 19), note: await checkpoint(log2025, 19, retired) },
      { lines: exportedLines(log2026, 23), note: await checkpoint(log2026, 23, signer) },
    ]);
    const both = await write("rotated-keys.txt", `${signer.text}\n${retired.text}\n`);
    expect(await verify(text, { keys: both })).toMatchObject({ ok: true, events: 42 });
    // Without the retired key, the older log's checkpoint is signed by nobody the auditor knows.
    expect(await verify(text)).toMatchObject({ ok: false, line: 43, message: expect.stringContaining("checkpoint 1") });
  });
});

describe("--trusted", () => {
  let trusted13: string;

  beforeAll(async () => {
    trusted13 = await write("trusted-2026-13.note", `${await checkpoint(log2026, 13, signer)}\n`);
  });

  it("verifies an export that extends a checkpoint kept earlier, by a consistency proof", async () => {
    const consistency = await write("consistency-13-23.json", consistencyJson(log2026, 13, 23));
    const result = await verify(untouched, { trusted: trusted13, consistency });
    expect(result).toMatchObject({
      ok: true,
      message: expect.stringContaining(`; extends the trusted checkpoint of ${originOf(2026)} size 13`),
    });
  });

  it("matches each of two kept checkpoints of one log with its own consistency proof", async () => {
    const trusted9 = await write("trusted-2026-9.note", await checkpoint(log2026, 9, signer));
    const proofs = [
      await write("consistency-9-23.json", consistencyJson(log2026, 9, 23)),
      await write("consistency-13-23b.json", consistencyJson(log2026, 13, 23)),
    ];
    const result = await verify(untouched, { trusted: [trusted13, trusted9], consistency: proofs.reverse() });
    expect(result).toMatchObject({ ok: true, message: expect.stringMatching(/size 13.*size 9/) });
  });

  it("verifies the same checkpoint kept earlier without a proof, and fails one of another root", async () => {
    const same = await write("trusted-2026-23.note", await checkpoint(log2026, 23, signer));
    expect(await verify(untouched, { trusted: same })).toMatchObject({ ok: true });
    const other = logOf(
      originOf(2026),
      eventsOf(2026, 23).map((event, i) => (i === 0 ? { ...event, action: "member.removed" } : event)),
    );
    const fork = await write("trusted-fork.note", await checkpoint(other, 23, signer));
    expect(await verify(untouched, { trusted: fork })).toMatchObject({
      ok: false,
      line: FOOTER,
      message: expect.stringContaining("has another root"),
    });
  });

  it("fails an export whose log lost an event the kept checkpoint covered (rebuilt and signed again with the same key)", async () => {
    // The store dropped leaf 4 and rebuilt its tree over the other 22 events: the new export proves itself...
    const rebuilt = logOf(
      originOf(2026),
      log2026.events.filter((_, i) => i !== 4),
    );
    const rewritten = exportOf([
      { lines: exportedLines(log2025, 19, (index) => index >= 2), note: await checkpoint(log2025, 19, signer) },
      { lines: exportedLines(rebuilt, 22), note: await checkpoint(rebuilt, 22, signer) },
    ]);
    expect(await verify(rewritten)).toMatchObject({ ok: true, events: 39 });
    // ...but not that it extends what the auditor kept, whatever proof the rewritten store offers.
    const consistency = await write("consistency-rewritten.json", consistencyJson(rebuilt, 13, 22));
    expect(await verify(rewritten, { trusted: trusted13, consistency })).toEqual({
      ok: false,
      line: 40,
      message:
        `line 40: the export's checkpoint of size 22 does not extend the trusted checkpoint of ${originOf(2026)} size 13 ` +
        `(${trusted13}): the consistency proof fails (the log was changed, not only appended to)`,
    });
    const honest = await write("consistency-honest.json", consistencyJson(log2026, 13, 22));
    expect(await verify(rewritten, { trusted: trusted13, consistency: honest })).toMatchObject({ ok: false, line: 40 });
  });

  it("fails a kept checkpoint larger than the export's, of a log the export lacks, or a proof of other sizes", async () => {
    const grown = logOf(originOf(2026), eventsOf(2026, 30));
    const later = await write("trusted-2026-30.note", await checkpoint(grown, 30, signer));
    expect(await verify(untouched, { trusted: later })).toMatchObject({
      ok: false,
      line: FOOTER,
      message: expect.stringContaining("a log only grows"),
    });
    const elsewhere = await write("trusted-2024.note", await checkpoint(logOf(originOf(2024), eventsOf(2024, 3)), 3, signer));
    expect(await verify(untouched, { trusted: elsewhere })).toMatchObject({
      ok: false,
      message: expect.stringContaining(`the export has no checkpoint of ${originOf(2024)}`),
    });
    const mismatched = await write("consistency-12-23.json", consistencyJson(log2026, 12, 23));
    expect(await verify(untouched, { trusted: trusted13, consistency: mismatched })).toMatchObject({
      ok: false,
      message: expect.stringContaining(`is not of ${originOf(2026)} from 13 to 23 (it is ${originOf(2026)} from 12 to 23)`),
    });
  });

  it("fails a kept checkpoint no known key signed", async () => {
    const stranger = (await parseSignerKey((await generateKeyPair("elsewhere/audit")).signer))!;
    const kept = await write("trusted-stranger.note", await checkpoint(log2026, 13, stranger));
    expect(await verify(untouched, { trusted: kept })).toMatchObject({
      ok: false,
      message: expect.stringContaining(`the trusted checkpoint ${kept} is not signed by a known key`),
    });
  });
});

describe("keys and proofs from the API", () => {
  let server: Server;
  const requests: { url: string; headers: IncomingHttpHeaders }[] = [];
  let host: string;
  let served: Log;

  beforeAll(async () => {
    server = createServer((req, res) => {
      requests.push({ url: req.url ?? "", headers: req.headers });
      if (req.url === "/.well-known/audit-keys") return res.end(`${signer.text}\n`);
      const url = new URL(req.url ?? "", "http://localhost");
      if (url.pathname === `/v1/${WORKSPACE}/audit/consistency` && req.headers.authorization === "Bearer test-platform-key") {
        res.setHeader("content-type", "application/json");
        return res.end(consistencyJson(served, Number(url.searchParams.get("from")), Number(url.searchParams.get("to"))));
      }
      res.statusCode = 404;
      res.end("{}");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    served = logOf(originOf(2026, host), eventsOf(2026, 23));
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it("fetches the keys from the log's host and the consistency proof with the bearer token", async () => {
    const file = await write("served.ndjson", exportOf([{ lines: exportedLines(served, 23), note: await checkpoint(served, 23, signer) }]));
    const trusted = await write("served-trusted.note", await checkpoint(served, 9, signer));
    const result = await verifyExport(file, { trusted, apiKey: "test-platform-key" });
    expect(result).toMatchObject({
      ok: true,
      events: 23,
      message: expect.stringContaining(`; keys from http://${host}/.well-known/audit-keys, the host the export names`),
    });
    expect(requests.map((request) => request.url)).toEqual([
      "/.well-known/audit-keys",
      `/v1/${WORKSPACE}/audit/consistency?year=2026&from=9&to=23`,
    ]);
    expect(requests[0]!.headers.authorization).toBeUndefined();
  });

  it("takes the keys and the proof from --api, and sends the bearer token with a --consistency URL too", async () => {
    const local = logOf(originOf(2026), eventsOf(2026, 23)); // named `localhost/…`, as a dev server with no PUBLIC_URL names it
    const previous = served;
    served = local; // what the server answers proofs of, for this test
    try {
      const file = await write("local.ndjson", exportOf([{ lines: exportedLines(local, 23), note: await checkpoint(local, 23, signer) }]));
      const trusted = await write("local-trusted.note", await checkpoint(local, 9, signer));
      requests.length = 0;
      const api = `http://${host}`;
      expect(await verifyExport(file, { trusted, api, apiKey: "test-platform-key" })).toMatchObject({ ok: true, events: 23 });
      expect(requests.map((request) => request.url)).toEqual([
        "/.well-known/audit-keys",
        `/v1/${WORKSPACE}/audit/consistency?year=2026&from=9&to=23`,
      ]);
      const consistency = `${api}/v1/${WORKSPACE}/audit/consistency?year=2026&from=9&to=23`;
      expect(await verifyExport(file, { trusted, keys: keysFile, consistency, apiKey: "test-platform-key" })).toMatchObject({ ok: true });
      expect(await verifyExport(file, { trusted, keys: keysFile })).toMatchObject({
        ok: false,
        message: expect.stringContaining("cannot fetch the consistency proof from http://localhost/"),
      });
      expect((await verifyExport(file, { trusted, keys: keysFile })).message).toContain("pass --keys <file>, and --api <base URL>");
    } finally {
      served = previous;
    }
  });

  it("fails naming the URL when the API refuses", async () => {
    const file = await write(
      "served-2.ndjson",
      exportOf([{ lines: exportedLines(served, 23), note: await checkpoint(served, 23, signer) }]),
    );
    const trusted = await write("served-trusted-2.note", await checkpoint(served, 9, signer));
    const result = await verifyExport(file, { trusted, apiKey: "wrong" });
    expect(result).toMatchObject({
      ok: false,
      message: expect.stringContaining(
        `GET http://${host}/v1/${WORKSPACE}/audit/consistency?year=2026&from=9&to=23 (the consistency proof) answered 404`,
      ),
    });
  });
});
