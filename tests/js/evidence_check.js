/*
 * Driven by tests/test_evidence_js.py: reads a JSON job on stdin, builds an evidence
 * package with the browser desk's evidence.js (themes/default/static/desk/evidence.js)
 * under node with the pinned libsodium, and prints the package's files on stdout as
 * {"files": [[path, base64], ...], "verify_key": "prh1vk_..."}.
 *
 * The job holds what the page has: the server's record, the recipient's X25519 private
 * key (hex; the page derives the evidence key from it while it is unlocked) and each
 * part's decrypted content (base64) with the hash of its ciphertext.
 */
"use strict";
const fs = require("fs");
const path = require("path");
const sodium = require("libsodium-wrappers-sumo");
const format = require(path.resolve(__dirname, "../../themes/default/static/desk/partformat.js"));
const evidence = require(path.resolve(__dirname, "../../themes/default/static/desk/evidence.js"));

function bytes(b64) { return b64 === null || b64 === undefined ? null : new Uint8Array(Buffer.from(b64, "base64")); }

async function main() {
  const job = JSON.parse(fs.readFileSync(0, "utf8"));
  await sodium.ready;
  const secret = new Uint8Array(Buffer.from(job.recipient_private_key, "hex"));
  const exclusions = {};
  Object.entries(job.exclusions || {}).forEach(([id, e]) => {
    exclusions[id] = { reason: e.reason, copy: e.copy ? { name: e.copy.name, content: bytes(e.copy.content) } : null };
  });
  const built = evidence.build(sodium, {
    instance: job.instance, report: job.report, record: job.record, exporter: job.exporter,
    exporterName: job.exporter_name, exportedAt: job.exported_at,
    recipientPublicKey: sodium.crypto_scalarmult_base(secret),
    signingKey: format.evidenceSigningKey(sodium, secret),
    parts: job.parts.map((p) => ({ part: p.part, content: bytes(p.content), meta: p.meta,
                                   ciphertext: p.ciphertext, problem: p.problem })),
    exclusions: exclusions,
  });
  process.stdout.write(JSON.stringify({
    files: built.files.map(([name, content]) => [name, Buffer.from(content).toString("base64")]),
    verify_key: built.verifyKey,
  }));
}

main().catch((e) => { process.stderr.write(String(e && e.stack || e)); process.exit(1); });
