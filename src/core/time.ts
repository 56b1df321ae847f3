export const DAY_MS = 86_400_000;

/** The instant `days` days after `fromMs` (before it, for a negative count), in ISO 8601. */
export const daysAfter = (fromMs: number, days: number) => new Date(fromMs + days * DAY_MS).toISOString();
