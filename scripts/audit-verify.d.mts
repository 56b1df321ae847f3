/** The CLI's flags: files or http(s) URLs; `trusted` and `consistency` may be given more than once. */
export type VerifyOptions = {
  keys?: string;
  trusted?: string | string[];
  consistency?: string | string[];
  api?: string;
  /** The bearer token for the API's consistency proofs (default: PLATFORM_API_KEY). */
  apiKey?: string;
};

export type VerifiedLog = { origin: string; size: number; events: number };

export type VerifyResult =
  | { ok: true; message: string; events: number; logs: VerifiedLog[] }
  /** `line`: the export's line (1-based) the problem is on, when it is on one; `message` names it too. */
  | { ok: false; line: number | undefined; message: string };

export function verifyExport(source: string | { text: string }, options?: VerifyOptions): Promise<VerifyResult>;
