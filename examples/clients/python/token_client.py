#!/usr/bin/env python3
"""Fetch Zoho access tokens from zoho-vault, with a local cache.

Standard library only (Python 3.8+). Copy this file into a backend service:

    from token_client import TokenClient
    tokens = TokenClient.from_env()          # ZOHO_VAULT_ADDR, ZOHO_VAULT_TOKEN,
    token = tokens.access_token()            # ZOHO_VAULT_CONNECTION
    headers = {"Authorization": f"Zoho-oauthtoken {token}"}
    url = tokens.api_domain + "/invoice/v3/invoices"

The cache keeps the token until `refresh_margin` seconds before the
`expires_in` the vault gave, so N calls cost one request to the vault, and
concurrent threads share one fetch. On 429 or 503 the client waits what the
`Retry-After` header says (bounded by `max_wait`) and asks again; while the
cached token is still valid it is served instead of waiting.

When the token can stay in the vault, prefer proxy_client.py: the service
never holds a token at all.
"""

import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request

# Statuses after which asking again later can work.
RETRYABLE = (429, 503)


class VaultError(Exception):
    """The vault refused or failed. `code` is the vault's error code
    (`needs_reauth`, `rate_limited`, ...), `hint` what to do, `fix` the same
    as data (see docs/http-api.md), `status` the HTTP status (0: no answer)."""

    def __init__(self, status, code, message, hint=None, fix=None, retry_after=None):
        super().__init__(f"{status} {code}: {message}" + (f" ({hint})" if hint else ""))
        self.status = status
        self.code = code
        self.hint = hint
        self.fix = fix or {}
        self.retry_after = retry_after


def _retry_after(headers):
    """Seconds from a `Retry-After` header (the vault sends seconds)."""
    value = headers.get("Retry-After") if headers else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _error_from(status, body, headers):
    try:
        err = json.loads(body)["error"]
        code, message = err.get("code", "unknown"), err.get("message", "")
        hint, fix = err.get("hint"), err.get("fix")
    except (ValueError, KeyError, TypeError, AttributeError):
        code, message, hint, fix = "unexpected_answer", body[:200].decode("utf-8", "replace"), None, None
    return VaultError(status, code, message, hint, fix, _retry_after(headers))


class TokenClient:
    def __init__(self, addr, token, connection, refresh_margin=60.0, timeout=10.0,
                 max_wait=30.0, clock=time.monotonic, sleep=time.sleep):
        if not addr or not token or not connection:
            raise ValueError("vault address, service token and connection name are required")
        self.url = f"{addr.rstrip('/')}/v1/connections/{connection}/token"
        self._auth = f"Bearer {token}"
        self.refresh_margin = refresh_margin
        self.timeout = timeout
        self.max_wait = max_wait
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._token = None
        self._valid_until = 0.0  # clock() time the token stops being valid
        self.api_domain = None
        # Counters, for logs and metrics.
        self.vault_requests = 0
        self.waits = 0

    @classmethod
    def from_env(cls, **kwargs):
        missing = [v for v in ("ZOHO_VAULT_ADDR", "ZOHO_VAULT_TOKEN", "ZOHO_VAULT_CONNECTION")
                   if not os.environ.get(v)]
        if missing:
            raise ValueError("set " + ", ".join(missing))
        return cls(os.environ["ZOHO_VAULT_ADDR"], os.environ["ZOHO_VAULT_TOKEN"],
                   os.environ["ZOHO_VAULT_CONNECTION"], **kwargs)

    def access_token(self):
        """A token valid for at least `refresh_margin` more seconds."""
        with self._lock:  # one fetch for all threads
            if self._token and self._clock() < self._valid_until - self.refresh_margin:
                return self._token
            return self._fetch()

    def invalidate(self):
        """Forget the cached token (after Zoho answered 401 with it)."""
        with self._lock:
            self._token, self._valid_until = None, 0.0

    def _fetch(self):
        # Ask for a token that outlives our margin, so it is cached at all.
        body = {"min_valid_secs": int(min(3000, 2 * self.refresh_margin))}
        deadline = self._clock() + self.max_wait
        while True:
            sent = self._clock()
            try:
                answer = self._post(body)
            except VaultError as e:
                if e.fix.get("code") == "ask_without_min_valid" and body:
                    body = {}  # the budget is spent: the cached token is fine
                    continue
                still_valid = self._token and self._clock() < self._valid_until
                if e.status not in RETRYABLE and e.status != 0:
                    raise
                if still_valid:
                    return self._token  # ask again on the next call
                wait = e.retry_after if e.retry_after is not None else 1.0
                if self._clock() + wait > deadline:
                    raise
                self.waits += 1
                self._sleep(wait)
                continue
            self._token = answer["access_token"]
            self._valid_until = sent + float(answer["expires_in"])
            self.api_domain = answer.get("api_domain")
            return self._token

    def _post(self, body):
        self.vault_requests += 1
        req = urllib.request.Request(
            self.url, data=json.dumps(body).encode(), method="POST",
            headers={"Authorization": self._auth, "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.load(resp)
        except urllib.error.HTTPError as e:
            raise _error_from(e.code, e.read(), e.headers) from None
        except (urllib.error.URLError, OSError) as e:  # refused, timed out, reset
            raise VaultError(0, "unreachable", f"{self.url}: {getattr(e, 'reason', e)}") from None


def main(argv):
    """`token_client.py [CALLS]`: asks for a token CALLS times (default 3)
    and prints one JSON line: how many vault requests that took, how many
    distinct tokens came back, and the api_domain. The token is not printed."""
    calls = int(argv[1]) if len(argv) > 1 else 3
    try:
        client = TokenClient.from_env()
        tokens = {client.access_token() for _ in range(calls)}
    except (ValueError, VaultError) as e:
        print(f"token_client: {e}", file=sys.stderr)
        return 1
    print(json.dumps({"calls": calls, "vault_requests": client.vault_requests,
                      "waits": client.waits, "distinct_tokens": len(tokens),
                      "api_domain": client.api_domain}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
