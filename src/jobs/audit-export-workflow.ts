import { WorkflowEntrypoint, type WorkflowEvent, type WorkflowStep, type WorkflowStepConfig } from "cloudflare:workers";
import { NonRetryableError } from "cloudflare:workflows";
import { isRegion } from "../core/domain";
import type { Bindings } from "../core/env";
import { ApiError } from "../core/errors";
import { createLogger, logLevelOf } from "../core/logger";
import {
  completeExport,
  ExportAbandoned,
  type ExportCursor,
  ExportFailure,
  type ExportJob,
  type ExportPlan,
  FIRST_CURSOR,
  failExport,
  isWritten,
  planExport,
  writeExportPart,
} from "../storage/audit-export-job";
import { bindingStorage } from "../storage/regional-storage";

/**
 * A step is tried seven times in all, 15 s, 30 s, … 8 min apart (about 16 minutes): long enough to ride out
 * a store or R2 that is briefly unreachable, short enough that a broken export says so the same hour.
 */
const STEP: WorkflowStepConfig = { retries: { limit: 6, delay: "15 seconds", backoff: "exponential" }, timeout: "10 minutes" };

/**
 * An audit export too large for one request (docs/decisions/0041-exports-of-any-size.md): the steps of
 * src/storage/audit-export-job.ts as a Cloudflare Workflow, whose instance id is the export's id. Each
 * step's result is kept by the engine, so a Worker restart, a deploy or a failed attempt resumes at the
 * step it stopped in. A step that still fails after its retries, or meets a reason not to go on, marks the
 * export failed, with a reason its owner can read in list-audit-exports.
 */
export class AuditExportWorkflow extends WorkflowEntrypoint<Bindings, ExportJob> {
  /**
   * Why a step stopped the export without a retry, set by the step as it throws: the engine passes on only
   * a NonRetryableError, whose name it reads, so the reason travels here (the steps run in this invocation).
   */
  #stopped: { abandoned: true } | { failure: string } | null = null;

  override async run(event: WorkflowEvent<ExportJob>, step: WorkflowStep): Promise<void> {
    const job = event.payload;
    let uploadId: string | null = null;
    let stepName = "plan";
    try {
      const plan: ExportPlan = await step.do(stepName, STEP, () =>
        this.#attempt(job, (storage) => planExport(storage, this.#bucket(), job)),
      );
      uploadId = plan.uploadId;
      const parts: R2UploadedPart[] = [];
      let cursor: ExportCursor = FIRST_CURSOR;
      while (!isWritten(cursor)) {
        const from = cursor;
        stepName = `part ${from.part}`;
        const { part, next } = await step.do(stepName, STEP, () =>
          this.#attempt(job, (storage) => writeExportPart(storage, this.#bucket(), job, plan, from)),
        );
        parts.push(part);
        cursor = next;
      }
      const written = cursor;
      stepName = "complete";
      await step.do(stepName, STEP, () =>
        this.#attempt(job, (storage) => completeExport(storage, this.#bucket(), job, plan, parts, written)),
      );
    } catch {
      if (this.#stopped && "abandoned" in this.#stopped) return;
      const failure = failureOf(stepName, this.#stopped?.failure ?? null);
      const openUpload = uploadId;
      await step.do("fail", STEP, () => this.#attempt(job, (storage) => failExport(storage, this.#bucket(), job, openUpload, failure)));
    }
  }

  #bucket(): R2Bucket {
    const bucket = this.env.AUDIT_EXPORTS as R2Bucket | undefined;
    if (!bucket) throw new ExportFailure("the deployment has no export bucket (AUDIT_EXPORTS)");
    return bucket;
  }

  /**
   * One attempt of a step, with the region's storage and a logger named after the export. What may not be
   * retried (the export abandoned, a failure stated for its owner, a log that failed its own check) leaves
   * as a NonRetryableError, its reason in #stopped; anything else is logged and thrown, so the engine retries.
   */
  async #attempt<T>(job: ExportJob, work: (storage: ReturnType<typeof bindingStorage>) => Promise<T>): Promise<T> {
    const logger = createLogger(`export-${job.exportId}`, logLevelOf(this.env.LOG_LEVEL));
    const region = this.env.REGION;
    try {
      if (!isRegion(region)) throw new ExportFailure("the deployment's REGION is missing or unknown");
      return await work(bindingStorage(this.env, region, logger));
    } catch (err) {
      const stated = err instanceof ExportFailure || (err instanceof ApiError && err.code === "audit_integrity_failure");
      if (err instanceof ExportAbandoned || stated) {
        this.#stopped = err instanceof ExportAbandoned ? { abandoned: true } : { failure: (err as Error).message };
        throw new NonRetryableError((err as Error).message);
      }
      logger.warn("audit export step failed; it will be retried", {
        workspace_id: job.workspaceId,
        export_id: job.exportId,
        cause: String(err),
      });
      throw err;
    }
  }
}

/**
 * The failure as its owner reads it: which step, and why in our words. A stated reason (ExportFailure, an
 * integrity failure) is given as it is; anything else (R2's or a store's own text) only as "unavailable",
 * its details in the log.
 */
function failureOf(stepName: string, stated: string | null): string {
  const why = stated ?? "storage stayed unavailable through every retry";
  return `The export stopped at its step "${stepName}": ${why.replace(/\.$/, "")}. Create a new export to try again.`;
}
