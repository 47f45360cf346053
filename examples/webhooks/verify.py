"""Verify a zoho-vault webhook (Standard Webhooks 1.0) with the standard library only.

Usage: WEBHOOK_SECRET=whsec_... WEBHOOK_ID=... WEBHOOK_TIMESTAMP=... \
       WEBHOOK_SIGNATURE=... python3 verify.py < body.json
Exit status 0 when the signature is valid, 1 otherwise.
"""
import base64
import hashlib
import hmac
import os
import sys
import time


def verify(secret: str, headers: dict, body: bytes, tolerance_secs: int = 300) -> bool:
    msg_id = headers["webhook-id"]
    timestamp = headers["webhook-timestamp"]
    # Refuse old (replayed) and future deliveries.
    if abs(time.time() - int(timestamp)) > tolerance_secs:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for candidate in headers["webhook-signature"].split(" "):
        version, _, signature = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(signature, expected):
            return True
    return False


if __name__ == "__main__":
    headers = {
        "webhook-id": os.environ["WEBHOOK_ID"],
        "webhook-timestamp": os.environ["WEBHOOK_TIMESTAMP"],
        "webhook-signature": os.environ["WEBHOOK_SIGNATURE"],
    }
    ok = verify(os.environ["WEBHOOK_SECRET"], headers, sys.stdin.buffer.read())
    print("valid" if ok else "INVALID")
    sys.exit(0 if ok else 1)
