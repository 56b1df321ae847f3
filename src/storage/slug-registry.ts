import { DurableObject } from "cloudflare:workers";
import type { Region } from "../core/domain";
import type { Bindings } from "../core/env";
import { ApiError, unavailableOnFailure } from "../core/errors";

/**
 * Global slug uniqueness across the regional databases (docs/guides/regions.md): one Durable Object per slug
 * (`idFromName(slug)`), shared by every region's deployment. A create reserves the slug before its
 * regional D1 batch and confirms it after; a failed create releases it; a reservation never confirmed (the
 * request died between the two) expires through the object's alarm. A confirmed slug stays held while its
 * workspace lives and after it is archived; only an operator gives it back (admin-release-workspace-slug,
 * once the archive's grace period has passed): the workspace's region marks its row released, then the
 * object drops that workspace's hold (`dropHold`), and any region may take the slug again.
 *
 * An object runs one event at a time and its storage calls close its input gate, so the read and the
 * write of `reserve` are one step: two regions reserving one slug at the same moment get one `true`.
 */

/** How long an unconfirmed reservation holds its slug: far beyond a create's D1 batch (30 s at most). */
export const RESERVATION_TTL_MS = 120_000;

type Reservation = { workspaceId: string; region: string; confirmed: boolean; expiresAt: number };
export type ReserveOutcome = { reserved: true } | { reserved: false; region: string };

const KEY = "reservation";

export class SlugRegistry extends DurableObject {
  /** The object's clock. Tests move it (through runInDurableObject) instead of waiting for real time to pass. */
  now: () => number = Date.now;

  /**
   * Holds the slug for `workspaceId` for RESERVATION_TTL_MS unless another workspace holds it: confirmed,
   * or reserved and not yet expired. Repeating it for the same workspace changes nothing.
   */
  async reserve(workspaceId: string, region: string): Promise<ReserveOutcome> {
    const now = this.now();
    const held = await this.ctx.storage.get<Reservation>(KEY);
    if (held?.workspaceId === workspaceId) return { reserved: true };
    if (held && (held.confirmed || held.expiresAt > now)) return { reserved: false, region: held.region };
    const expiresAt = now + RESERVATION_TTL_MS;
    await this.ctx.storage.put<Reservation>(KEY, { workspaceId, region, confirmed: false, expiresAt });
    await this.ctx.storage.setAlarm(expiresAt);
    return { reserved: true };
  }

  /**
   * Makes the workspace's hold permanent. False if the slug is held for another workspace (ours expired
   * and was taken): the caller's create must not stand. An expired hold of ours that nobody took (even
   * one the alarm removed) is taken again.
   */
  async confirm(workspaceId: string, region: string): Promise<boolean> {
    const held = await this.ctx.storage.get<Reservation>(KEY);
    if (held && held.workspaceId !== workspaceId && (held.confirmed || held.expiresAt > this.now())) return false;
    await this.ctx.storage.put<Reservation>(KEY, { workspaceId, region, confirmed: true, expiresAt: 0 });
    await this.ctx.storage.deleteAlarm();
    return true;
  }

  /** Gives up the workspace's unconfirmed hold (its create failed); anything else stays as it is. */
  async release(workspaceId: string): Promise<void> {
    const held = await this.ctx.storage.get<Reservation>(KEY);
    if (held?.workspaceId === workspaceId && !held.confirmed) await this.ctx.storage.deleteAll();
  }

  /**
   * Drops the workspace's hold, confirmed or not (an operator released its archived workspace's slug).
   * Another workspace's hold, taken after an earlier drop, stays: a repeated release never frees a slug
   * that is in use again.
   */
  async dropHold(workspaceId: string): Promise<void> {
    const held = await this.ctx.storage.get<Reservation>(KEY);
    if (held?.workspaceId === workspaceId) await this.ctx.storage.deleteAll();
  }

  /** Who holds the slug, if anyone (for operators and tests). */
  async holder(): Promise<Reservation | null> {
    return (await this.ctx.storage.get<Reservation>(KEY)) ?? null;
  }

  /** An unconfirmed reservation past its time is dropped; the object then stores nothing. */
  override async alarm(): Promise<void> {
    const held = await this.ctx.storage.get<Reservation>(KEY);
    if (!held || held.confirmed) return;
    if (held.expiresAt <= this.now()) await this.ctx.storage.deleteAll();
    else await this.ctx.storage.setAlarm(held.expiresAt);
  }
}

/**
 * The SLUGS binding. Where the namespace is another Worker's (script_name, every region but the one that
 * hosts it) the generated type cannot name the class; it is this class in every environment.
 */
export type SlugNamespace = Bindings["SLUGS"];

export const slugTaken = () => new ApiError("slug_taken", "Workspace slug already taken.");

const objectFor = (slugs: SlugNamespace, slug: string) => (slugs as DurableObjectNamespace<SlugRegistry>).get(slugs.idFromName(slug));

/** One call to the slug's object; the object unreachable (or failing) is 503: the caller has written nothing yet, or undoes it. */
async function askRegistry<Answer>(
  slugs: SlugNamespace,
  slug: string,
  call: (object: DurableObjectStub<SlugRegistry>) => Promise<Answer>,
): Promise<Answer> {
  return unavailableOnFailure(
    () => call(objectFor(slugs, slug)),
    "The global slug registry is unavailable; nothing was written. Retry the request.",
  );
}

/** Reserves `slug` for the workspace about to be created: 409 `slug_taken` if another holds it, 503 if the registry cannot answer. */
export async function reserveSlug(slugs: SlugNamespace, slug: string, workspaceId: string, region: Region): Promise<void> {
  const outcome = await askRegistry(slugs, slug, async (object) => (await object.reserve(workspaceId, region)).reserved);
  if (!outcome) throw slugTaken();
}

/** Confirms the created workspace's slug: 409 if it was lost meanwhile, 503 if the registry cannot answer. */
export async function confirmSlug(slugs: SlugNamespace, slug: string, workspaceId: string, region: Region): Promise<void> {
  const confirmed = await askRegistry(slugs, slug, async (object) => object.confirm(workspaceId, region));
  if (!confirmed) throw slugTaken();
}

/** Releases the reservation of a create that failed (its own error is what the client sees). */
export async function releaseSlug(slugs: SlugNamespace, slug: string, workspaceId: string): Promise<void> {
  await objectFor(slugs, slug).release(workspaceId);
}

/**
 * Drops the hold of a workspace whose slug its region has marked released: 503 if the registry cannot
 * answer (the mark stays, and repeating the release finishes it).
 */
export async function dropSlugHold(slugs: SlugNamespace, slug: string, workspaceId: string): Promise<void> {
  await unavailableOnFailure(
    () => objectFor(slugs, slug).dropHold(workspaceId),
    "The slug is released in this region, but the global slug registry could not be reached to let other regions take it. Repeat " +
      "the request to finish.",
  );
}
