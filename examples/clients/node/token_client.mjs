// Fetch Zoho access tokens from zoho-vault, with a local cache.
//
// Node.js 18+ (built-in fetch), no packages. Copy this file into a backend
// service:
//
//   import { TokenClient } from "./token_client.mjs";
//   const tokens = TokenClient.fromEnv(); // ZOHO_VAULT_ADDR, ZOHO_VAULT_TOKEN,
//   const token = await tokens.accessToken(); // ZOHO_VAULT_CONNECTION
//   await fetch(`${tokens.apiDomain}/invoice/v3/invoices`,
//     { headers: { Authorization: `Zoho-oauthtoken ${token}` } });
//
// The cache keeps the token until `refreshMarginSecs` before the
// `expires_in` the vault gave, so N calls cost one request to the vault,
// and concurrent callers share one fetch. On 429 or 503 the client waits
// what `Retry-After` says (bounded by `maxWaitSecs`) and asks again; while
// the cached token is still valid it is served instead of waiting.
//
// When the token can stay in the vault, prefer proxy_client.mjs: the
// service never holds a token at all.

import { pathToFileURL } from "node:url";

const RETRYABLE = new Set([429, 503]);

/** The vault refused or failed. `code` is the vault's error code
 * (`needs_reauth`, `rate_limited`, ...), `hint` what to do, `fix` the same
 * as data (docs/http-api.md), `status` the HTTP status (0: no answer). */
export class VaultError extends Error {
  constructor(status, code, message, { hint, fix, retryAfter } = {}) {
    super(`${status} ${code}: ${message}${hint ? ` (${hint})` : ""}`);
    this.name = "VaultError";
    Object.assign(this, { status, code, hint, fix: fix ?? {}, retryAfter });
  }
}

function retryAfterSecs(headers) {
  const secs = Number.parseFloat(headers.get("retry-after") ?? "");
  return Number.isFinite(secs) ? Math.max(0, secs) : undefined;
}

const sleep = (secs) => new Promise((resolve) => setTimeout(resolve, secs * 1000));

export class TokenClient {
  constructor({ addr, token, connection, refreshMarginSecs = 60, timeoutSecs = 10, maxWaitSecs = 30 }) {
    if (!addr || !token || !connection) {
      throw new Error("vault address, service token and connection name are required");
    }
    this.url = `${addr.replace(/\/+$/, "")}/v1/connections/${encodeURIComponent(connection)}/token`;
    this.auth = `Bearer ${token}`;
    Object.assign(this, { refreshMarginSecs, timeoutSecs, maxWaitSecs });
    this.token = null;
    this.validUntil = 0; // ms since the epoch when the token stops being valid
    this.inflight = null; // the fetch every caller waits for
    this.apiDomain = null;
    // Counters, for logs and metrics.
    this.vaultRequests = 0;
    this.waits = 0;
  }

  static fromEnv(options = {}) {
    const missing = ["ZOHO_VAULT_ADDR", "ZOHO_VAULT_TOKEN", "ZOHO_VAULT_CONNECTION"].filter(
      (v) => !process.env[v],
    );
    if (missing.length) throw new Error(`set ${missing.join(", ")}`);
    return new TokenClient({
      addr: process.env.ZOHO_VAULT_ADDR,
      token: process.env.ZOHO_VAULT_TOKEN,
      connection: process.env.ZOHO_VAULT_CONNECTION,
      ...options,
    });
  }

  /** A token valid for at least `refreshMarginSecs` more seconds. */
  async accessToken() {
    if (this.token && Date.now() < this.validUntil - this.refreshMarginSecs * 1000) {
      return this.token;
    }
    // One fetch for all concurrent callers.
    this.inflight ??= this.#fetch().finally(() => {
      this.inflight = null;
    });
    return this.inflight;
  }

  /** Forget the cached token (after Zoho answered 401 with it). */
  invalidate() {
    this.token = null;
    this.validUntil = 0;
  }

  async #fetch() {
    // Ask for a token that outlives our margin, so it is cached at all.
    let body = { min_valid_secs: Math.min(3000, Math.round(2 * this.refreshMarginSecs)) };
    const deadline = Date.now() + this.maxWaitSecs * 1000;
    for (;;) {
      const sent = Date.now();
      try {
        const answer = await this.#post(body);
        this.token = answer.access_token;
        this.validUntil = sent + answer.expires_in * 1000;
        this.apiDomain = answer.api_domain ?? null;
        return this.token;
      } catch (e) {
        if (!(e instanceof VaultError)) throw e;
        if (e.fix.code === "ask_without_min_valid" && body.min_valid_secs) {
          body = {}; // the budget is spent: the cached token is fine
          continue;
        }
        if (!RETRYABLE.has(e.status) && e.status !== 0) throw e;
        if (this.token && Date.now() < this.validUntil) return this.token; // ask again next call
        const wait = e.retryAfter ?? 1;
        if (Date.now() + wait * 1000 > deadline) throw e;
        this.waits += 1;
        await sleep(wait);
      }
    }
  }

  async #post(body) {
    this.vaultRequests += 1;
    let resp;
    try {
      resp = await fetch(this.url, {
        method: "POST",
        headers: { Authorization: this.auth, "Content-Type": "application/json" },
        body: JSON.stringify(body),
        redirect: "error",
        signal: AbortSignal.timeout(this.timeoutSecs * 1000),
      });
    } catch (e) {
      // Refused, reset, timed out.
      throw new VaultError(0, "unreachable", `${this.url}: ${e.cause?.code ?? e.name}`);
    }
    const text = await resp.text();
    if (resp.ok) return JSON.parse(text);
    let err;
    try {
      err = JSON.parse(text).error;
    } catch {
      err = undefined;
    }
    throw new VaultError(resp.status, err?.code ?? "unexpected_answer", err?.message ?? text.slice(0, 200), {
      hint: err?.hint,
      fix: err?.fix,
      retryAfter: retryAfterSecs(resp.headers),
    });
  }
}

// `node token_client.mjs [CALLS]`: asks for a token CALLS times (default 3)
// and prints one JSON line: how many vault requests that took, how many
// distinct tokens came back, and the api_domain. The token is not printed.
async function main(argv) {
  const calls = Number.parseInt(argv[0] ?? "3", 10);
  try {
    const client = TokenClient.fromEnv();
    const tokens = new Set();
    for (let i = 0; i < calls; i++) tokens.add(await client.accessToken());
    console.log(
      JSON.stringify({
        calls,
        vault_requests: client.vaultRequests,
        waits: client.waits,
        distinct_tokens: tokens.size,
        api_domain: client.apiDomain,
      }),
    );
    return 0;
  } catch (e) {
    console.error(`token_client: ${e.message}`);
    return 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2));
}
