/**
 * JSON-lines logger bound to one request id. Callers never pass secrets, and as a second line of defence
 * anything shaped like one of our bearer secrets is masked before it is written.
 */
import { SECRET_IN_TEXT } from "./auth/secret";

type Fields = Record<string, unknown>;

export type Logger = {
  info(message: string, fields?: Fields): void;
  warn(message: string, fields?: Fields): void;
  error(message: string, fields?: Fields): void;
};

export function redactSecrets(line: string): string {
  return line.replace(SECRET_IN_TEXT, "[redacted]");
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
