/*
 * Driven by tests/test_desk_js_crypto.py: reads a JSON job on stdin, runs the desk's
 * browser crypto (themes/default/static/desk/partformat.js) under node with the pinned
 * libsodium, and prints a JSON answer on stdout. The job {"filenames": true} instead
 * answers what the browser names each input of tests/vectors/filenames.json.
 */
"use strict";
const path = require("path");
const sodium = require("libsodium-wrappers-sumo");
const format = require(path.resolve(__dirname, "../../themes/default/static/desk/partformat.js"));

function hex(bytes) { return Buffer.from(bytes).toString("hex"); }
function unhex(text) { return new Uint8Array(Buffer.from(text, "hex")); }

// The file-name vectors shared with the Python rule (core/parrhesia/crypto/filenames.py):
// what the browser's sanitiseFilename makes of each input.
function filenames() {
  const vectors = JSON.parse(require("fs").readFileSync(path.resolve(__dirname, "../vectors/filenames.json"), "utf8"));
  return vectors.vectors.map((vector) => ({
    comment: vector.comment,
    output: format.sanitiseFilename(vector.input, "fallback" in vector ? vector.fallback : vectors.fallback),
  }));
}

async function main() {
  const job = JSON.parse(require("fs").readFileSync(0, "utf8"));
  if (job.filenames) {
    process.stdout.write(JSON.stringify({ filenames: filenames() }));
    return;
  }
  await sodium.ready;
  const answer = { fingerprint: null, decrypted: [], encrypted: [], errors: [], padme: {} };
  const recipient = format.unwrapKeyFile(sodium, job.key_file, job.passphrase);
  answer.public_key_hex = hex(recipient.publicKey);
  answer.fingerprint = format.fingerprint(sodium, recipient.publicKey);
  try {
    format.unwrapKeyFile(sodium, job.key_file, job.passphrase + "x");
    answer.wrong_passphrase = "accepted";
  } catch (e) {
    answer.wrong_passphrase = e.code;
  }
  const report = format.openSealedKey(sodium, format.base64url(sodium, job.sealed_report_key), recipient);
  answer.report_public_key_hex = hex(report.publicKey);
  for (const part of job.parts) {
    const keypair = part.sealed_note_key
      ? format.openSealedKey(sodium, format.base64url(sodium, part.sealed_note_key), recipient)
      : report;
    const result = format.decryptPart(sodium, unhex(part.blob_hex), keypair, job.report_id, part.id);
    answer.decrypted.push({ id: part.id, meta: result.meta, content_hex: hex(result.content) });
  }
  for (const bad of job.tampered) {
    try {
      format.decryptPart(sodium, unhex(bad.blob_hex), report, job.report_id, bad.id);
      answer.errors.push({ name: bad.name, code: "accepted" });
    } catch (e) {
      answer.errors.push({ name: bad.name, code: e.code || e.name });
    }
  }
  for (const wanted of job.encrypt) {
    const id = format.newPartId(sodium);
    const blob = format.encryptPart(sodium, unhex(wanted.content_hex), report.publicKey, job.report_id, id, wanted.meta);
    answer.encrypted.push({ id: id, blob_hex: hex(blob) });
  }
  const ring = format.openKeyring(sodium, job.keyring, recipient);
  answer.keyring = {};
  for (const generation of Object.keys(ring)) { answer.keyring[generation] = hex(ring[generation].publicKey); }
  try {
    // A grant claimed to come from someone else than the member who boxed it is refused.
    const forged = JSON.parse(JSON.stringify(job.keyring));
    forged[0].grant.vouched_by.public_key = forged[1].public_key;
    format.openKeyring(sodium, forged, recipient);
    answer.keyring_forged = "accepted";
  } catch (e) {
    answer.keyring_forged = e.code;
  }
  for (const n of job.padme) {
    answer.padme[String(n)] = [format.padme(n), format.paddedChunkCount(n)];
  }
  process.stdout.write(JSON.stringify(answer));
}

main().catch((e) => { process.stderr.write(String(e && e.stack || e)); process.exit(1); });
