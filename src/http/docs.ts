import { Scalar } from "@scalar/hono-api-reference";
import { etag } from "hono/etag";
import { NONCE, secureHeaders } from "hono/secure-headers";
import type { App, AppContext } from "../core/env";
import { isLoopbackHost } from "../security/oidc-providers";
import { sha256Hex } from "../security/secret";

/** The OpenAPI document, at upstream's path too. */
const DOCUMENT_PATHS = ["/doc", "/v1/openapi.json"] as const;
/** The browsable reference of it, at upstream's path too; each reads the document beside it. */
const REFERENCE_PATHS = { "/docs": "/doc", "/v1/docs": "/v1/openapi.json" } as const;
/** Served from the Worker's static assets (scripts/build-assets.mjs), never from a CDN. */
const VIEWER_SCRIPT = "/scalar/standalone.js";

/** The public paths (no credential) of the above. */
export const DOCUMENT_ROUTE_PATHS: readonly string[] = [...DOCUMENT_PATHS, ...Object.keys(REFERENCE_PATHS)];

/**
 * The document changes only with a deploy: clients may reuse it for a minute, then revalidate with its
 * ETag (304 when unchanged).
 */
const DOCUMENT_CACHE_CONTROL = "public, max-age=60";
/** Distinct documents an isolate keeps (one per server URL and region; in practice one). */
const MAX_BUILT_DOCUMENTS = 16;

type BuiltDocument = { json: string; etag: string };

/**
 * The server /doc names, so a client generated from a region's document calls that region: the
 * deployment's configured PUBLIC_URL. Without one (local dev) the loopback origin the document was fetched
 * from, else a URL relative to the document; never a name taken from a request's Host header, which would
 * let one request set what a cached document tells everyone.
 */
function documentedServer(c: AppContext): string {
  if (c.env.PUBLIC_URL) return c.env.PUBLIC_URL;
  const { hostname, origin } = new URL(c.req.url);
  return isLoopbackHost(hostname) ? origin : "/";
}

function documentConfig(c: AppContext) {
  return {
    openapi: "3.1.0",
    servers: [{ url: documentedServer(c), description: `This deployment (${c.env.REGION})` }],
    info: {
      title: "Platform API",
      version: "1.0.0",
      description: "Control plane for workspaces, identities and workspace API keys, wire-compatible with the upstream Platform API v1.",
      contact: { name: "Platform API maintainers" },
      license: { name: "Proprietary", identifier: "LicenseRef-Proprietary" },
    },
    security: [{ BearerAuth: [] }],
    tags: [
      { name: "Account", description: "Operations on the authenticated identity's own account." },
      {
        name: "Auth",
        description: "Who the caller is: a workspace API key (`GET /v1/auth/me`), or an identity (`GET /v1/me`, not upstream).",
      },
      { name: "Workspaces", description: "Read, update, provision, convert and archive workspaces; test allowlists." },
      { name: "API Keys", description: "Workspace API keys: roles, permissions, lifecycle." },
      {
        name: "Audit",
        description: "Who did what, with which credential, when: every control-plane write, filters, summaries and NDJSON exports.",
      },
      {
        name: "Members",
        description: "Not part of the upstream API: the people in a workspace, their roles, and the invitations that bring them in.",
      },
      {
        name: "External Roles",
        description: "Roles defined by an external system (an EHR, an identity provider), named for use in role grants and assignments.",
      },
      {
        name: "External Role Assignments",
        description: "Which external roles a subject of an external system holds, optionally tied to a member of the workspace.",
      },
      {
        name: "Role Grants",
        description: "What an external role may do: access to a resource (an integration endpoint, a skill, a knowledge-base scope).",
      },
      { name: "Compliance", description: "The access review: every credential and member of a workspace and what each may do." },
      { name: "Settings", description: "The workspace's retention policy: how long each kind of data is kept, and the legal hold." },
      { name: "Admin", description: "Operator surface (not part of the upstream API): identities and their tokens." },
      {
        name: "Sign-in",
        description:
          "Not part of the upstream API: the deployment as its own identity service for terminals (RFC 8628 device authorization, " +
          "refresh, revocation, its key set and discovery document), and the approval page a person signs in to.",
      },
      { name: "Service", description: "Not part of the upstream API: the landing document and the health check." },
    ],
  };
}

/**
 * The page runs only the viewer script served by this deployment and its own nonce-carrying inline
 * script, and talks only to this origin. Styles may be inline: the viewer sets them at runtime.
 */
const referencePolicy = secureHeaders({
  contentSecurityPolicy: {
    defaultSrc: ["'none'"],
    scriptSrc: ["'self'", NONCE],
    styleSrc: ["'self'", "'unsafe-inline'"],
    imgSrc: ["'self'", "data:"],
    fontSrc: ["'self'", "data:"],
    connectSrc: ["'self'"],
    baseUri: ["'none'"],
    formAction: ["'none'"],
    frameAncestors: ["'none'"],
  },
});

/**
 * The document is generated once per isolate (per server URL and region, the only parts that vary) and
 * served as the same bytes with a strong ETag from then on.
 */
function documentBuilder(app: App) {
  const built = new Map<string, Promise<BuiltDocument>>();
  return (c: AppContext): Promise<BuiltDocument> => {
    const config = documentConfig(c);
    const key = `${config.servers[0]?.url} ${c.env.REGION}`;
    let document = built.get(key);
    if (!document) {
      const json = JSON.stringify(app.getOpenAPI31Document(config));
      document = sha256Hex(json).then((hash) => ({ json, etag: `"${hash.slice(0, 32)}"` }));
      if (built.size >= MAX_BUILT_DOCUMENTS) built.clear();
      built.set(key, document);
      document.catch(() => built.delete(key));
    }
    return document;
  };
}

export function registerDocRoutes(app: App) {
  const documentFor = documentBuilder(app);
  for (const path of DOCUMENT_PATHS) {
    // hono's etag middleware answers a matching If-None-Match with 304, keeping the ETag set here.
    app.get(path, etag(), async (c) => {
      const document = await documentFor(c);
      return c.body(document.json, 200, {
        "content-type": "application/json",
        etag: document.etag,
        "cache-control": DOCUMENT_CACHE_CONTROL,
      });
    });
  }
  for (const [path, documentUrl] of Object.entries(REFERENCE_PATHS)) {
    app.get(
      path,
      referencePolicy,
      Scalar((c) => ({
        url: documentUrl,
        pageTitle: "Platform API",
        cdn: VIEWER_SCRIPT,
        nonce: c.get("secureHeadersNonce"),
        // Nothing that would reach Scalar's services: no hosted fonts, telemetry, AI agent or MCP.
        withDefaultFonts: false,
        telemetry: false,
        agent: { disabled: true },
        mcp: { disabled: true },
        // A small API: every group open, so each operation is one glance away.
        defaultOpenAllTags: true,
      })),
    );
  }
}
