import { createRoute } from "@hono/zod-openapi";
import { CallbackQuerySchema, DecisionFormSchema, PageQuerySchema, SignInQuerySchema } from "./schemas";

/**
 * The approval page at `verification_uri` (decision 0040): a person signed in (by Cloudflare Access in front
 * of the deployment) reviews a terminal's sign-in request and approves or denies it. HTML, not JSON.
 */

const tags = ["Sign-in"];
const security: [] = [];
const page = (description: string) => ({ description, content: { "text/html": { schema: { type: "string" as const } } } });

export const showDevicePage = createRoute({
  method: "get",
  path: "/device",
  operationId: "show-device-page",
  tags,
  summary: "The approval page",
  description:
    "For a person in a browser, not for clients. Without `user_code`, asks for it; with one, shows the request it names (the code, " +
    "the program's description, the access asked for, the address, country and software it came from) and the **Approve** and " +
    "**Deny** buttons. 401 when nobody is signed in, 404 for a code that names no pending request, 429 after too many wrong codes.",
  security,
  request: { query: PageQuerySchema },
  responses: {
    200: page("The form."),
    400: page("The link is not one this page made (a code longer than any)."),
    401: page("Nobody is signed in."),
    404: page("No pending request has this code."),
    429: page("Too many wrong codes from this address; `Retry-After` says when to try again."),
    503: page("Sign-in is not configured, or storage is unavailable."),
  },
});

export const decideDevicePage = createRoute({
  method: "post",
  path: "/device",
  operationId: "decide-device-page",
  tags,
  summary: "Approve or deny a sign-in",
  description:
    "The page's form: `user_code`, `csrf` (the form's own token, bound to the person and the request) and `decision` (`approve` or " +
    "`deny`). Recorded in the operator log as `device_authorization.approved` or `.denied`.",
  security,
  request: {
    body: {
      required: true,
      content: {
        "application/x-www-form-urlencoded": {
          schema: DecisionFormSchema,
        },
      },
    },
  },
  responses: {
    200: page("Approved or denied."),
    400: page("The form is not one this page made, or not for this person."),
    401: page("Nobody is signed in."),
    403: page("The form was sent from another site."),
    404: page("No pending request has this code (decided, expired or never made)."),
    429: page("Too many wrong codes from this address or person; `Retry-After` says when to try again."),
    503: page("Sign-in is not configured, or storage is unavailable."),
  },
});

export const startPageSignIn = createRoute({
  method: "get",
  path: "/device/login",
  operationId: "start-device-page-sign-in",
  tags,
  summary: "Sign in to the approval page",
  description:
    "For a person in a browser. Redirects (302) to the identity provider `issuer` names (one of `OIDC_PROVIDERS` with a `client_id`) " +
    "for OpenID Connect's authorization code flow with PKCE; `user_code` is where the page comes back to.",
  security,
  request: { query: SignInQuerySchema },
  responses: {
    302: { description: "To the provider's authorization endpoint." },
    400: page("The link is not one this page made."),
    404: page("No configured provider signs people in there."),
    503: page("The provider's discovery document cannot be read."),
  },
});

export const finishPageSignIn = createRoute({
  method: "get",
  path: "/device/callback",
  operationId: "finish-device-page-sign-in",
  tags,
  summary: "The return from the identity provider",
  description:
    "The redirect URI to register at the provider (`<PUBLIC_URL>/device/callback`). Exchanges the code, verifies the ID token, sets " +
    "the page's session cookie (`HttpOnly; Secure; SameSite=Lax`, 15 minutes) and redirects (302) back to the page.",
  security,
  request: { query: CallbackQuerySchema },
  responses: {
    302: { description: "Back to the page, signed in." },
    400: page("The sign-in expired, came from another browser, or the provider refused it."),
  },
});
