type D1Like = { prepare(query: string): { bind(...values: unknown[]): { run(): Promise<unknown> } } };

export function seedAuditEvents(
  db: D1Like,
  options: { workspaceId: string; count: number; from: string; nameLength?: number; actors?: string[] },
): Promise<void>;
