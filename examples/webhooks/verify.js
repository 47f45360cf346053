// Verify a zoho-vault webhook (Standard Webhooks 1.0) with Node's standard library only.
//
// Usage: WEBHOOK_SECRET=whsec_... WEBHOOK_ID=... WEBHOOK_TIMESTAMP=... \
//        WEBHOOK_SIGNATURE=... node verify.js < body.json
// Exit status 0 when the signature is valid, 1 otherwise.
const crypto = require("node:crypto");

function verify(secret, headers, body, toleranceSecs = 300) {
  const id = headers["webhook-id"];
  const timestamp = headers["webhook-timestamp"];
  // Refuse old (replayed) and future deliveries.
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > toleranceSecs) return false;
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const expected = crypto
    .createHmac("sha256", key)
    .update(`${id}.${timestamp}.`)
    .update(body)
    .digest();
  return headers["webhook-signature"].split(" ").some((candidate) => {
    const [version, signature] = candidate.split(",");
    if (version !== "v1" || !signature) return false;
    const given = Buffer.from(signature, "base64");
    return given.length === expected.length && crypto.timingSafeEqual(given, expected);
  });
}

if (require.main === module) {
  const chunks = [];
  process.stdin.on("data", (c) => chunks.push(c));
  process.stdin.on("end", () => {
    const headers = {
      "webhook-id": process.env.WEBHOOK_ID,
      "webhook-timestamp": process.env.WEBHOOK_TIMESTAMP,
      "webhook-signature": process.env.WEBHOOK_SIGNATURE,
    };
    const ok = verify(process.env.WEBHOOK_SECRET, headers, Buffer.concat(chunks));
    console.log(ok ? "valid" : "INVALID");
    process.exit(ok ? 0 : 1);
  });
}

module.exports = { verify };
