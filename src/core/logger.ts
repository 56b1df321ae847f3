/**
 * JSON-lines logger bound to one request id. Callers never pass secrets, and as a second line of defence
 * anything shaped like one of our bearer secrets is masked before it is written.
 *
 * Policy: an ordinary successful request writes nothing (Workers' invocation logs already record method,
 * status and duration). Warnings, errors (every 5xx among them) and security events (a failed admin
 * authentication, an API key refused, by reason) are written at `warn` or `error`; the `LOG_LEVEL`
 * variable sets the lowest level written (default `warn`; `debug` adds a line per request).
 */
import { SECRET_IN_TEXT } from "./token-format";

type Fields = Record<string, unknown>;

const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
const DEFAULT_LOG_LEVEL: LogLevel = "warn";

export type Logger = Record<LogLevel, (message: string, fields?: Fields) => void>;

/** The configured level; anything unset or unknown is the default, so a typo never silences errors. */
export function logLevelOf(configured: unknown): LogLevel {
  return LOG_LEVELS.find((level) => level === configured) ?? DEFAULT_LOG_LEVEL;
}

/** A client may pass its own `x-request-id` (kept if it is a short token); otherwise one is generated. */
const CLIENT_REQUEST_ID = /^[\w.:-]{1,128}$/;

/** The request's id: the client's `x-request-id` when it is a short token, else a new one. */
export function requestIdOf(incoming: string | null | undefined): string {
  return incoming && CLIENT_REQUEST_ID.test(incoming) ? incoming : `req_${crypto.randomUUID().replaceAll("-", "")}`;
}

export function redactSecrets(line: string): string {
  return line.replace(SECRET_IN_TEXT, "[redacted]");
}

/** Runs a cleanup step (an undo, a purge) whose failure must not replace the error being answered: it is logged. */
export async function bestEffort(logger: Logger, what: string, step: () => Promise<unknown>, fields: Fields = {}): Promise<void> {
  await step().catch((err: unknown) => logger.error(`could not ${what}`, { ...fields, cause: String(err) }));
}

const CONSOLE: Record<LogLevel, (line: string) => void> = {
  debug: (line) => console.debug(line),
  info: (line) => console.log(line),
  warn: (line) => console.warn(line),
  error: (line) => console.error(line),
};

export function createLogger(requestId: string, minimum: LogLevel = DEFAULT_LOG_LEVEL): Logger {
  const lowest = LOG_LEVELS.indexOf(minimum);
  const writer = (level: LogLevel) =>
    LOG_LEVELS.indexOf(level) < lowest
      ? () => {}
      : (message: string, fields: Fields = {}) =>
          CONSOLE[level](redactSecrets(JSON.stringify({ level, message, request_id: requestId, ...fields })));
  return { debug: writer("debug"), info: writer("info"), warn: writer("warn"), error: writer("error") };
}
