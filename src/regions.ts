export const REGIONS = ["us-east-1", "eu-central-1", "ap-southeast-2", "ca-central-1"] as const;
export type Region = (typeof REGIONS)[number];

export function isRegion(value: unknown): value is Region {
  return typeof value === "string" && (REGIONS as readonly string[]).includes(value);
}
