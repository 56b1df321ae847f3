/**
 * JSON-lines logger bound to one request id. Callers never pass secrets, and as a second line of defence
 * anything shaped like one of our bearer secrets is masked before it is written.
 */
import { SECRET_IN_TEXT } from "./secret";

type Fields = Record<string, unknown>;

export type Logger = {
  info(message: string, fields?: Fields): void;
  warn(message: string, fields?: Fields): void;
  error(message: string, fields?: Fields): void;
};

export function redactSecrets(line: string): string {
  return line.replace(SECRET_IN_TEXT, "[redacted]");
}

/** Runs a cleanup step (an undo, a purge) whose failure must not replace the error being answered: it is logged. */
export async function bestEffort(logger: Logger, what: string, step: () => Promise<unknown>, fields: Fields = {}): Promise<void> {
  await step().catch((err: unknown) => logger.error(`could not ${what}`, { ...fields, cause: String(err) }));
}

export function createLogger(requestId: string): Logger {
  const write = (level: "info" | "warn" | "error", message: string, fields: Fields = {}) => {
    const line = redactSecrets(JSON.stringify({ level, message, request_id: requestId, ...fields }));
    if (level === "error") console.error(line);
    else if (level === "warn") console.warn(line);
    else console.log(line);
  };
  return {
    info: (message, fields) => write("info", message, fields),
    warn: (message, fields) => write("warn", message, fields),
    error: (message, fields) => write("error", message, fields),
  };
}
