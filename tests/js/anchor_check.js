/*
 * Driven by tests/test_audit_anchor.py: reads a JSON job on stdin, runs the browser
 * desk's anchor.js (themes/default/static/desk/anchor.js) under node with the pinned
 * libsodium, and prints a JSON answer on stdout. {"vectors": true} answers the verdict
 * of each case of tests/vectors/anchor.json and what it makes of each invalid
 * statement; {"signed": [{statement, signature}, ...]} whether each is signed by the
 * instance key it names.
 */
"use strict";
const fs = require("fs");
const path = require("path");
const sodium = require("libsodium-wrappers-sumo");
const anchor = require(path.resolve(__dirname, "../../themes/default/static/desk/anchor.js"));

async function main() {
  const job = JSON.parse(fs.readFileSync(0, "utf8"));
  const answer = {};
  if (job.vectors) {
    const vectors = JSON.parse(fs.readFileSync(path.resolve(__dirname, "../vectors/anchor.json"), "utf8"));
    answer.verdicts = vectors.verdicts.map((c) => {
      const statement = anchor.read(c.statement);
      const remembered = c.remembered && { seq: String(c.remembered.seq), hash: c.remembered.hash,
                                           instance_key: c.remembered.instance_key };
      return statement ? anchor.verdict(remembered, statement) : "unreadable";
    });
    answer.invalid = vectors.invalid.map((c) => anchor.read(c.statement));
  }
  if (job.signed) {
    await sodium.ready;
    answer.signed = job.signed.map((a) => {
      const statement = anchor.read(a.statement);
      return Boolean(statement) && anchor.signed(sodium, a, statement);
    });
  }
  process.stdout.write(JSON.stringify(answer));
}

main().catch((e) => { process.stderr.write(String(e && e.stack || e)); process.exit(1); });
