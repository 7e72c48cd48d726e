/*
 * The desk's audit anchor, in the browser (and node, for tests).
 *
 * This browser remembers the last audit head it was shown (localStorage, per origin)
 * and asks the desk, with that entry's number, for the instance's signed statement:
 * that entry's hash now, the head now, whether the entries between them chain. The
 * statement is read and judged by the same rule as `parrhesia desk pull`
 * (core/parrhesia/crypto/audit_chain.py, anchor_verdict; both checked against
 * tests/vectors/anchor.json). Only a statement that extends the remembered head
 * replaces it; any other is kept here as proof and shown as a warning. The script comes
 * from the server it checks: it exposes a log edited in the database, not a server
 * whose code was changed (`parrhesia desk audit`, on your own machine, does not depend
 * on that). docs/format.md section 13.
 */
(function (root, factory) {
  "use strict";
  if (typeof module === "object" && module.exports) {
    module.exports = factory();
  } else {
    root.ParrhesiaAnchor = factory();
  }
})(typeof self !== "undefined" ? self : this, function () {
  "use strict";

  var STATEMENT = new RegExp(
    "^parrhesia-audit-anchor 1\\n" +
    "instance-key: (prh1vk_[A-Za-z0-9_-]{43})\\n" +
    "since: (?:none|([1-9][0-9]{0,18}) ([0-9a-f]{64}|missing))\\n" +
    "head: (0|[1-9][0-9]{0,18}) ([0-9a-f]{64})\\n" +
    "segment: (?:intact|broken ([1-9][0-9]{0,18}))\\n" +
    "at: ([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z)\\n$"
  );
  var KEY_PREFIX = "prh1vk_";

  /** The statement's fields (sequence numbers as decimal strings), or null if it is not one. */
  function read(text) {
    var found = typeof text === "string" ? STATEMENT.exec(text) : null;
    if (!found) {
      return null;
    }
    return {
      instanceKey: found[1],
      sinceSeq: found[2] || null,
      sinceHash: found[2] && found[3] !== "missing" ? found[3] : null,
      headSeq: found[4],
      headHash: found[5],
      brokenAt: found[6] || null,
      at: found[7]
    };
  }

  /** The one rule (anchor_verdict): remembered is {seq, hash, instance_key} or null. */
  function verdict(remembered, statement) {
    if (!remembered) {
      return statement.sinceSeq === null ? "first" : "not-asked";
    }
    if (statement.instanceKey !== remembered.instance_key) {
      return "other-key";
    }
    if (statement.sinceSeq === null || BigInt(statement.sinceSeq) !== BigInt(remembered.seq)) {
      return "not-asked";
    }
    if (statement.sinceHash === null || BigInt(statement.headSeq) < BigInt(remembered.seq)) {
      return "cut";
    }
    if (statement.sinceHash !== remembered.hash) {
      return "rewritten";
    }
    if (statement.brokenAt !== null) {
      return "broken";
    }
    return "extends";
  }

  /** Whether the answer's signature is the named instance key's (libsodium, after ready). */
  function signed(sodium, answer, statement) {
    try {
      var key = sodium.from_base64(statement.instanceKey.slice(KEY_PREFIX.length), sodium.base64_variants.URLSAFE_NO_PADDING);
      var signature = sodium.from_base64(answer.signature, sodium.base64_variants.ORIGINAL);
      return key.length === 32 && signature.length === 64 &&
        sodium.crypto_sign_verify_detached(signature, sodium.from_string(answer.statement), key);
    } catch (e) {
      return false;
    }
  }

  return { read: read, verdict: verdict, signed: signed };
});

(function () {
  "use strict";
  if (typeof document === "undefined") {
    return;
  }
  var panel = document.getElementById("audit-anchor");
  if (!panel || !window.sodium || !window.ParrhesiaAnchor) {
    return;
  }
  var anchor = window.ParrhesiaAnchor;
  var messages = JSON.parse(panel.getAttribute("data-messages"));
  var line = document.getElementById("audit-anchor-status");
  var acceptButton = document.getElementById("audit-anchor-accept");
  var HEAD = "parrhesia.audit-head";
  var CONFLICTS = "parrhesia.audit-conflicts";
  var KEPT_CONFLICTS = 20;

  function fill(text, values) {
    return text.replace(/%\((\w+)\)s/g, function (whole, name) {
      return values[name] === undefined || values[name] === null ? whole : String(values[name]);
    });
  }

  function say(text, state, warn) {
    line.textContent = text;
    panel.setAttribute("data-state", state);
    panel.className = warn ? "anchor warning" : "anchor";
  }

  function remembered() {
    try {
      var head = JSON.parse(window.localStorage.getItem(HEAD));
      return head && typeof head.seq === "string" && typeof head.hash === "string" ? head : null;
    } catch (e) {
      return null;
    }
  }

  function keep(answer) {
    var kept = [];
    try {
      kept = JSON.parse(window.localStorage.getItem(CONFLICTS)) || [];
    } catch (e) {
      kept = [];
    }
    kept.push({ statement: answer.statement, signature: answer.signature });
    window.localStorage.setItem(CONFLICTS, JSON.stringify(kept.slice(-KEPT_CONFLICTS)));
  }

  function look(accept) {
    var before = accept ? null : remembered();
    var url = panel.getAttribute("data-url") + (before ? "?since=" + encodeURIComponent(before.seq) : "");
    say(messages.checking, "checking", false);
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (answer) {
        var statement = anchor.read(answer && answer.statement);
        if (!statement || !anchor.signed(window.sodium, answer, statement)) {
          acceptButton.hidden = true;
          say(messages.unsigned, "unsigned", true);
          return;
        }
        var found = anchor.verdict(before, statement);
        var values = { seq: before && before.seq, seen: before && before.seen, head: statement.headSeq,
                       broken: statement.brokenAt };
        if (found === "first" || found === "extends") {
          window.localStorage.setItem(HEAD, JSON.stringify({ seq: statement.headSeq, hash: statement.headHash,
            instance_key: statement.instanceKey, seen: statement.at }));
          acceptButton.hidden = true;
          say(fill(messages[found], values), found, false);
          return;
        }
        keep(answer);
        acceptButton.hidden = false;
        say(fill(messages[found], values) + " " + messages.advice, found, true);
      })
      .catch(function () {
        say(messages.failed, "failed", true);
      });
  }

  acceptButton.addEventListener("click", function () {
    if (window.confirm(messages.confirm_accept)) {
      look(true);
    }
  });
  window.sodium.ready.then(function () { look(false); });
})();
