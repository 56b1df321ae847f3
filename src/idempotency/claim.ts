import type { SealContext } from "./seal";

/**
 * This request's hold on its key; `stored` is the answer a write's batch stored, if it did. A record is
 * running while `locked_until` is ahead: its answer (even one its write's batch stored) is replayed only
 * once the request has finished (`finish`), or its lease has run out.
 */
export type Claim = { scope: string; keyHash: string; owner: string; sealing: SealContext; stored?: { status: number; text: string } };
