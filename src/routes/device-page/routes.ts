import { createRoute, z } from "@hono/zod-openapi";

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
  request: { query: z.object({ user_code: z.string().max(32).optional() }) },
  responses: {
    200: page("The form."),
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
          schema: z.object({ user_code: z.string().max(32), csrf: z.string().max(4096), decision: z.enum(["approve", "deny"]) }),
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
    503: page("Sign-in is not configured, or storage is unavailable."),
  },
});
