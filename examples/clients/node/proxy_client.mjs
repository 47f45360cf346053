// Call Zoho through zoho-vault's proxy: the service never sees a token.
//
// Node.js 18+ (built-in fetch), no packages. Copy this file into a backend
// service:
//
//   import { ProxyClient } from "./proxy_client.mjs";
//   const zoho = ProxyClient.fromEnv(); // ZOHO_VAULT_ADDR, ZOHO_VAULT_TOKEN,
//                                       // ZOHO_VAULT_CONNECTION, ZOHO_ORG_ID (optional)
//   const invoices = await zoho.getJson("/invoice/v3/invoices", { status: "draft" });
//
// The request goes to `{vault}/v1/proxy/{connection}{path}`; the vault adds
// `Authorization: Zoho-oauthtoken ...`, sends it to the connection's Zoho
// API domain, refreshes and retries once if Zoho says the token died, and
// passes Zoho's answer back. The service token may be proxy-only
// (`zoho-vault service-token create --access proxy --proxy-path /invoice/v3/`).
//
// Answers made by the vault itself (409 needs_reauth, 403 outside the
// allowed paths, 429 over the concurrency cap, 503 sealed, 504 Zoho timed
// out) carry the vault's error shape and throw VaultError; Zoho's own
// errors throw ZohoError with Zoho's body. A 429 or 503 with `Retry-After`
// is retried after that delay, bounded by `maxWaitSecs`.

import { pathToFileURL } from "node:url";

const RETRYABLE = new Set([429, 503]);
const ORG_HEADER = "X-com-zoho-invoice-organizationid";

/** The vault answered instead of Zoho. `code` is the vault's error code,
 * `hint` what to do, `fix` the same as data (docs/http-api.md). */
export class VaultError extends Error {
  constructor(status, code, message, { hint, fix } = {}) {
    super(`vault: ${status} ${code}: ${message}${hint ? ` (${hint})` : ""}`);
    this.name = "VaultError";
    Object.assign(this, { status, code, hint, fix: fix ?? {} });
  }
}

/** Zoho answered with an error status; `body` is Zoho's answer as is. */
export class ZohoError extends Error {
  constructor(status, body, requestId) {
    super(`zoho: ${status}: ${body.slice(0, 300)} (request id ${requestId})`);
    this.name = "ZohoError";
    Object.assign(this, { status, body, requestId });
  }
}

function retryAfterSecs(headers) {
  const secs = Number.parseFloat(headers.get("retry-after") ?? "");
  return Number.isFinite(secs) ? Math.max(0, secs) : undefined;
}

/** A VaultError when `text` is the vault's error shape, else undefined
 * (then the answer is Zoho's). */
function vaultError(status, text) {
  let err;
  try {
    err = JSON.parse(text).error;
  } catch {
    return undefined;
  }
  if (typeof err?.code !== "string") return undefined;
  return new VaultError(status, err.code, err.message ?? "", { hint: err.hint, fix: err.fix });
}

const sleep = (secs) => new Promise((resolve) => setTimeout(resolve, secs * 1000));

export class ProxyClient {
  // timeoutSecs is a little above the vault's upstream timeout (30 s by
  // default), so the vault's 504 arrives before ours.
  constructor({ addr, token, connection, orgId, timeoutSecs = 35, maxWaitSecs = 30 }) {
    if (!addr || !token || !connection) {
      throw new Error("vault address, service token and connection name are required");
    }
    this.base = `${addr.replace(/\/+$/, "")}/v1/proxy/${encodeURIComponent(connection)}`;
    this.auth = `Bearer ${token}`;
    Object.assign(this, { orgId, timeoutSecs, maxWaitSecs });
    this.waits = 0;
  }

  static fromEnv(options = {}) {
    const missing = ["ZOHO_VAULT_ADDR", "ZOHO_VAULT_TOKEN", "ZOHO_VAULT_CONNECTION"].filter(
      (v) => !process.env[v],
    );
    if (missing.length) throw new Error(`set ${missing.join(", ")}`);
    return new ProxyClient({
      addr: process.env.ZOHO_VAULT_ADDR,
      token: process.env.ZOHO_VAULT_TOKEN,
      connection: process.env.ZOHO_VAULT_CONNECTION,
      orgId: process.env.ZOHO_ORG_ID,
      ...options,
    });
  }

  /** Sends one request; resolves to Zoho's answer ({status, headers, text})
   * whatever its status, throws VaultError when the vault answered. */
  async request(method, path, { query, body, headers } = {}) {
    if (!path.startsWith("/")) throw new Error("path starts with /, e.g. /invoice/v3/invoices");
    const url = this.base + path + (query ? `?${new URLSearchParams(query)}` : "");
    const hdrs = { Authorization: this.auth, Accept: "application/json" };
    if (this.orgId) hdrs[ORG_HEADER] = this.orgId;
    if (body !== undefined && typeof body === "object") {
      body = JSON.stringify(body);
      hdrs["Content-Type"] = "application/json";
    }
    Object.assign(hdrs, headers);
    const deadline = Date.now() + this.maxWaitSecs * 1000;
    for (;;) {
      let resp;
      try {
        resp = await fetch(url, {
          method,
          headers: hdrs,
          body,
          // Zoho's redirects come back to the caller; following one would
          // send the service token to wherever it points.
          redirect: "manual",
          signal: AbortSignal.timeout(this.timeoutSecs * 1000),
        });
      } catch (e) {
        throw new VaultError(0, "unreachable", `${url}: ${e.cause?.code ?? e.name}`);
      }
      const text = await resp.text();
      const wait = retryAfterSecs(resp.headers);
      if (RETRYABLE.has(resp.status) && wait !== undefined && Date.now() + wait * 1000 <= deadline) {
        // The vault's concurrency cap or Zoho's own throttle: the request
        // was not carried out, so sending it again is safe.
        this.waits += 1;
        await sleep(wait);
        continue;
      }
      const err = resp.status >= 400 ? vaultError(resp.status, text) : undefined;
      if (err) throw err;
      return { status: resp.status, headers: resp.headers, text };
    }
  }

  /** GET and decode; throws ZohoError unless Zoho answered 2xx (a redirect
   * included: it is not followed). */
  async getJson(path, query) {
    const { status, headers, text } = await this.request("GET", path, { query });
    if (status < 200 || status >= 300) throw new ZohoError(status, text, headers.get("x-request-id"));
    return JSON.parse(text);
  }
}

// `node proxy_client.mjs PATH [KEY=VALUE ...]`: GETs PATH through the proxy
// with the query parameters given and prints Zoho's JSON answer.
async function main(argv) {
  if (argv.length < 1) {
    console.error("usage: proxy_client.mjs /invoice/v3/invoices [key=value ...]");
    return 2;
  }
  const query = Object.fromEntries(
    argv.slice(1).map((arg) => {
      const at = arg.indexOf("=");
      return at < 0 ? [arg, ""] : [arg.slice(0, at), arg.slice(at + 1)];
    }),
  );
  try {
    const answer = await ProxyClient.fromEnv().getJson(argv[0], argv.length > 1 ? query : undefined);
    console.log(JSON.stringify(answer));
    return 0;
  } catch (e) {
    console.error(`proxy_client: ${e.message}`);
    return 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2));
}
