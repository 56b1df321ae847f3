// Stand-in for zod's locale index in the deployed bundle (wrangler.toml [alias]): the API speaks English
// only, and zod's 40-odd other locales were most of the bundle. English stays zod's default either way.
export { default as en } from "zod/v4/locales/en.js";
