type D1Like = { prepare(query: string): { bind(...values: unknown[]): { run(): Promise<unknown> } } };
type R2Like = { put(key: string, value: string): Promise<unknown> };

export function seedAuditExports(
  db: D1Like,
  bucket: R2Like,
  options: { workspaceId: string; count: number; createdAt: string },
): Promise<string[]>;
