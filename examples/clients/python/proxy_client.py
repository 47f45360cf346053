#!/usr/bin/env python3
"""Call Zoho through zoho-vault's proxy: the service never sees a token.

Standard library only (Python 3.8+). Copy this file into a backend service:

    from proxy_client import ProxyClient
    zoho = ProxyClient.from_env()   # ZOHO_VAULT_ADDR, ZOHO_VAULT_TOKEN,
                                    # ZOHO_VAULT_CONNECTION, ZOHO_ORG_ID (optional)
    invoices = zoho.get_json("/invoice/v3/invoices", {"status": "draft"})

The request goes to `{vault}/v1/proxy/{connection}{path}`; the vault adds
`Authorization: Zoho-oauthtoken ...`, sends it to the connection's Zoho API
domain, refreshes and retries once if Zoho says the token died, and passes
Zoho's answer back. The service token may be proxy-only
(`zoho-vault service-token create --access proxy --proxy-path /invoice/v3/`).

Answers made by the vault itself (409 needs_reauth, 403 outside the
allowed paths, 429 over the concurrency cap, 503 sealed, 504 Zoho timed
out) carry the vault's error shape and raise VaultError; Zoho's own
errors raise ZohoError with Zoho's body. A 429 or 503 with `Retry-After`
is retried after that delay, bounded by `max_wait`.
"""

import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

RETRYABLE = (429, 503)
ORG_HEADER = "X-com-zoho-invoice-organizationid"


class VaultError(Exception):
    """The vault answered instead of Zoho. `code` is the vault's error code,
    `hint` what to do, `fix` the same as data (docs/http-api.md)."""

    def __init__(self, status, code, message, hint=None, fix=None, retry_after=None):
        super().__init__(f"vault: {status} {code}: {message}" + (f" ({hint})" if hint else ""))
        self.status, self.code, self.hint = status, code, hint
        self.fix = fix or {}
        self.retry_after = retry_after


class ZohoError(Exception):
    """Zoho answered with an error status; `body` is Zoho's answer as is."""

    def __init__(self, status, body, request_id=None):
        text = body[:300].decode("utf-8", "replace")
        super().__init__(f"zoho: {status}: {text} (request id {request_id})")
        self.status, self.body, self.request_id = status, body, request_id


def _retry_after(headers):
    try:
        return max(0.0, float(headers.get("Retry-After")))
    except (TypeError, ValueError):
        return None


def _vault_error(status, body, headers):
    """A VaultError when the body is the vault's error shape, else None
    (then the answer is Zoho's)."""
    try:
        err = json.loads(body)["error"]
        code = err["code"]
        if not isinstance(code, str):
            return None
    except (ValueError, KeyError, TypeError):
        return None
    return VaultError(status, code, err.get("message", ""), err.get("hint"), err.get("fix"),
                      _retry_after(headers))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Zoho's redirects come back to the caller; following one would send
    the service token to wherever it points."""

    def redirect_request(self, *args, **kwargs):
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


class ProxyClient:
    def __init__(self, addr, token, connection, org_id=None, timeout=35.0, max_wait=30.0,
                 sleep=time.sleep, clock=time.monotonic):
        if not addr or not token or not connection:
            raise ValueError("vault address, service token and connection name are required")
        self.base = f"{addr.rstrip('/')}/v1/proxy/{urllib.parse.quote(connection, safe='')}"
        self._auth = f"Bearer {token}"
        self.org_id = org_id
        # A little above the vault's own upstream timeout (30 s by default),
        # so the vault's 504 arrives before ours.
        self.timeout = timeout
        self.max_wait = max_wait
        self._sleep, self._clock = sleep, clock
        self.waits = 0

    @classmethod
    def from_env(cls, **kwargs):
        missing = [v for v in ("ZOHO_VAULT_ADDR", "ZOHO_VAULT_TOKEN", "ZOHO_VAULT_CONNECTION")
                   if not os.environ.get(v)]
        if missing:
            raise ValueError("set " + ", ".join(missing))
        return cls(os.environ["ZOHO_VAULT_ADDR"], os.environ["ZOHO_VAULT_TOKEN"],
                   os.environ["ZOHO_VAULT_CONNECTION"], os.environ.get("ZOHO_ORG_ID"), **kwargs)

    def request(self, method, path, query=None, body=None, headers=None):
        """Sends one request; returns (status, headers, body bytes) for any
        answer Zoho gave, raises VaultError when the vault answered."""
        if not path.startswith("/"):
            raise ValueError("path starts with /, e.g. /invoice/v3/invoices")
        url = self.base + path + ("?" + urllib.parse.urlencode(query) if query else "")
        hdrs = {"Authorization": self._auth, "Accept": "application/json"}
        if self.org_id:
            hdrs[ORG_HEADER] = self.org_id
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        deadline = self._clock() + self.max_wait
        while True:
            status, answer_headers, data = self._send(method, url, body, hdrs)
            err = _vault_error(status, data, answer_headers) if status >= 400 else None
            wait = _retry_after(answer_headers)
            if status in RETRYABLE and wait is not None and self._clock() + wait <= deadline:
                # The vault's concurrency cap or Zoho's own throttle: the
                # request was not carried out, so sending it again is safe.
                self.waits += 1
                self._sleep(wait)
                continue
            if err:
                raise err
            return status, answer_headers, data

    def get_json(self, path, query=None):
        """GET and decode; raises ZohoError unless Zoho answered 2xx (a
        redirect included: it is not followed)."""
        status, headers, data = self.request("GET", path, query)
        if not 200 <= status < 300:
            raise ZohoError(status, data, headers.get("X-Request-Id"))
        return json.loads(data)

    def _send(self, method, url, body, headers):
        req = urllib.request.Request(url, data=body, method=method, headers=headers)
        try:
            with _OPENER.open(req, timeout=self.timeout) as resp:
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:  # 3xx/4xx/5xx, from the vault or Zoho
            return e.code, e.headers, e.read()
        except (urllib.error.URLError, OSError) as e:
            raise VaultError(0, "unreachable", f"{url}: {getattr(e, 'reason', e)}") from None


def main(argv):
    """`proxy_client.py PATH [KEY=VALUE ...]`: GETs PATH through the proxy
    with the query parameters given and prints Zoho's JSON answer."""
    if len(argv) < 2:
        print("usage: proxy_client.py /invoice/v3/invoices [key=value ...]", file=sys.stderr)
        return 2
    query = dict(arg.partition("=")[::2] for arg in argv[2:])
    try:
        answer = ProxyClient.from_env().get_json(argv[1], query)
    except (ValueError, VaultError, ZohoError) as e:
        print(f"proxy_client: {e}", file=sys.stderr)
        return 1
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
