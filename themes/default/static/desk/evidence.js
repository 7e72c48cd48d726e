/*
 * The evidence package of a report, made in the desk page (docs/format.md section 10):
 * the same BagIt bag `parrhesia desk export` writes on the recipient's machine
 * (core/parrhesia/recipient/evidence.py), zipped, and checked by the same
 * `parrhesia evidence verify`.
 *
 * decrypt.js hands over what it decrypted (each part's content and the SHA-256 of the
 * ciphertext it came from) and the exporter's evidence signing key, derived from the
 * recipient's key while it was unlocked; the server adds only the record it vouches for
 * (GET /desk/reports/<id>/evidence.json). Nothing decrypted is sent anywhere: the ZIP is
 * made in memory and saved by the browser.
 *
 * `build` is pure (run under node by tests/test_evidence_js.py); `offer` is the page's.
 */
(function (root, factory) {
  if (typeof module === "object" && module.exports) {
    module.exports = factory(require("./partformat.js"));
  } else {
    root.ParrhesiaEvidence = factory(root.ParrhesiaFormat);
  }
}(typeof self !== "undefined" ? self : this, function (format) {
  "use strict";

  var TAG_MANIFEST = "tagmanifest-sha256.txt";
  var SIGNATURE_FILE = TAG_MANIFEST + ".sig";
  var FOLDERS = { message: "messages", attachment: "attachments", answers: "answers", reply: "replies" };
  var SUFFIX = { answers: ".json" };
  var NOTE_REASON = "an internal note of a body, never part of an evidence package";
  var PUBLIC_KEY_PREFIX = "prh1pk_";
  var VERIFY_KEY_PREFIX = "prh1vk_";
  var SPKI_PREFIX = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

  function utf8(text) { return new TextEncoder().encode(text); }

  function sha256(sodium, bytes) { return sodium.to_hex(sodium.crypto_hash_sha256(bytes)); }

  /* JSON with sorted keys and a one-space indent, as the command line writes evidence.json. */
  function sorted(value) {
    if (Array.isArray(value)) { return value.map(sorted); }
    if (value && typeof value === "object") {
      var out = {};
      Object.keys(value).sort().forEach(function (key) { out[key] = sorted(value[key]); });
      return out;
    }
    return value;
  }

  function canonical(document) { return utf8(JSON.stringify(sorted(document), null, 1) + "\n"); }

  function pem(sodium, verifyKey) {
    var der = new Uint8Array(SPKI_PREFIX.length + verifyKey.length);
    der.set(SPKI_PREFIX, 0);
    der.set(verifyKey, SPKI_PREFIX.length);
    return utf8("-----BEGIN PUBLIC KEY-----\n" + sodium.to_base64(der, sodium.base64_variants.ORIGINAL) +
      "\n-----END PUBLIC KEY-----\n");
  }

  /* A manifest line names its file as bagit does (CR and LF escaped). */
  function manifest(sodium, files) {
    return utf8(files.map(function (entry) {
      return sha256(sodium, entry[1]) + "  " + entry[0].replace(/\r/g, "%0D").replace(/\n/g, "%0A") + "\n";
    }).join(""));
  }

  /* name, or "name (2).ext" and so on: never two files of one name (as the command line). */
  function freeName(taken, folder, name) {
    var dot = name.lastIndexOf(".");
    var stem = dot > 0 ? name.slice(0, dot) : name;
    var suffix = dot > 0 ? name.slice(dot) : "";
    for (var number = 1; number < 10000; number += 1) {
      var candidate = number === 1 ? name : stem + " (" + number + ")" + suffix;
      if (!taken[folder + "/" + candidate]) { return candidate; }
    }
    throw new Error("no free file name for " + name);
  }

  /*
   * The files of the package, [path, bytes] each. input:
   *   instance, report (the server's facts), record (its evidence record), exporter (who,
   *   as the server says), exporterName (optional), exportedAt ("YYYY-MM-DDTHH:MM:SSZ"),
   *   recipientPublicKey (bytes), signingKey (evidenceSigningKey's pair),
   *   parts: [{part, content (bytes) or null, ciphertext ({sha256, size}) or null, problem}],
   *   exclusions: {partId: {reason, copy: {name, content} or null}}.
   */
  function build(sodium, input) {
    var taken = {};
    var payload = [];
    var exclusions = input.exclusions || {};
    var entries = input.parts.map(function (given, index) {
      var part = given.part;
      var entry = { part: part.id, kind: part.kind, author: part.author === undefined ? null : part.author,
                    created_on: part.created_on === undefined ? null : part.created_on, treatment: "included",
                    file: null, sha256: null, size: null, ciphertext: null, reason: null };
      var folder = FOLDERS[part.kind];
      if (!folder) {
        entry.treatment = "left-out";
        entry.reason = part.kind === "note" ? NOTE_REASON
          : "a part of kind '" + part.kind + "' this version does not export";
        return entry;
      }
      if (given.problem || !given.content) {
        entry.treatment = "unreadable";
        entry.reason = given.problem || "cannot decrypt";
        entry.ciphertext = given.ciphertext || null;
        return entry;
      }
      entry.ciphertext = given.ciphertext;
      var number = ("00" + (index + 1)).slice(-3);
      var wanted = part.kind === "attachment" ? (given.meta && given.meta.filename)
        : number + "-" + part.kind + (SUFFIX[part.kind] || ".txt");
      var name = freeName(taken, "data/" + folder, format.sanitiseFilename(wanted, part.id));
      // Its name is taken even if it is left out, as on the command line (which removes
      // the file after the later parts were named): the later parts are named alike.
      taken["data/" + folder + "/" + name] = true;
      var excluded = exclusions[part.id];
      if (excluded) {
        if (!excluded.reason || !excluded.reason.trim()) { throw new Error("reason:" + part.id); }
        entry.treatment = "omitted";
        entry.reason = excluded.reason.trim();
        if (!excluded.copy) { return entry; }
        // Named as the exporter named the redacted copy: the original's name may be what is redacted.
        var copyName = format.sanitiseFilename(excluded.copy.name, part.id);
        if (taken["data/redacted/" + copyName]) { copyName = part.id + "-" + copyName; }
        entry.treatment = "redacted";
        return place(entry, "redacted", copyName, excluded.copy.content);
      }
      return place(entry, folder, name, given.content);
    });

    function place(entry, folder, name, content) {
      var path = "data/" + folder + "/" + name;
      taken[path] = true;
      payload.push([path, content]);
      entry.file = path;
      entry.sha256 = sha256(sodium, content);
      entry.size = content.length;
      return entry;
    }

    var verifyKey = input.signingKey.publicKey;
    var record = input.record;
    var report = {};
    ["id", "status", "created_on", "updated_on", "public_key", "route", "escalation", "fallback_route", "fields"]
      .forEach(function (name) { report[name] = input.report[name] === undefined ? null : input.report[name]; });
    var exporter = {
      recipient: "recipient:" + input.exporter.id,
      body: input.exporter.body,
      public_key: format.keyText(sodium, PUBLIC_KEY_PREFIX, input.recipientPublicKey),
      fingerprint: format.fingerprint(sodium, input.recipientPublicKey)
    };
    if (input.exporterName && input.exporterName.trim()) { exporter.name = input.exporterName.trim(); }
    var evidence = {
      format: "parrhesia-evidence",
      version: 1,
      instance: input.instance,
      report: report,
      routing: { bodies: record.bodies, escalations: record.escalations },
      clocks: record.clocks,
      clock_history: record.clock_history,  // chosen by the server, as for desk export
      audit: { entries: record.entries, head: record.head, vouched: record.vouched || null },
      parts: entries,
      exporter: exporter,
      exported_at: input.exportedAt,
      signature: {
        algorithm: "Ed25519",
        verify_key: format.keyText(sodium, VERIFY_KEY_PREFIX, verifyKey),
        fingerprint: format.fingerprint(sodium, verifyKey),
        signed_file: TAG_MANIFEST,
        signature_file: SIGNATURE_FILE
      }
    };

    payload.sort(function (a, b) { return a[0] < b[0] ? -1 : (a[0] > b[0] ? 1 : 0); });
    var octets = payload.reduce(function (sum, entry) { return sum + entry[1].length; }, 0);
    var tags = [
      ["bag-info.txt", utf8([
        "Bag-Software-Agent: Parrhesia desk (browser)",
        "Bagging-Date: " + input.exportedAt.slice(0, 10),
        "External-Description: Parrhesia evidence package of report " + report.id,
        "External-Identifier: " + report.id,
        "Payload-Oxum: " + octets + "." + payload.length
      ].join("\n") + "\n")],
      ["bagit.txt", utf8("BagIt-Version: 0.97\nTag-File-Character-Encoding: UTF-8\n")],
      ["evidence.json", canonical(evidence)],
      ["manifest-sha256.txt", manifest(sodium, payload)],
      ["signer.pem", pem(sodium, verifyKey)]
    ];
    var tagManifest = manifest(sodium, tags);
    var signature = sodium.crypto_sign_detached(tagManifest, input.signingKey.privateKey);
    return {
      files: payload.concat(tags, [[TAG_MANIFEST, tagManifest], [SIGNATURE_FILE, signature]]),
      parts: entries,
      verifyKey: format.keyText(sodium, VERIFY_KEY_PREFIX, verifyKey)
    };
  }

  /* ---------------------------------------------------------------- the page */

  /* An input of the page with its label. */
  function labelled(id, type, text) {
    var label = document.createElement("label");
    label.setAttribute("for", id);
    label.textContent = text;
    var input = document.createElement("input");
    input.type = type;
    input.id = id;
    return { label: label, input: input };
  }

  function offer(context) {
    var panel = document.getElementById("evidence");
    if (!panel || !window.fflate) { return; }
    var sodium = context.sodium;
    var messages = JSON.parse(panel.getAttribute("data-messages"));
    var rows = document.getElementById("evidence-parts");
    var status = document.getElementById("evidence-status");
    var button = document.getElementById("evidence-export");
    var say = function (text, isError) { status.textContent = text; status.className = isError ? "error" : ""; };
    rows.textContent = "";
    var choices = {};
    context.parts.forEach(function (given) {
      if (!FOLDERS[given.part.kind] || !given.content) { return; }
      var name = given.part.kind === "attachment" ? (given.meta && given.meta.filename) || given.part.id
        : messages["kind_" + given.part.kind] || given.part.kind;
      var row = document.createElement("li");
      var id = "evidence-" + given.part.id;
      var label = document.createElement("label");
      label.setAttribute("for", id + "-treatment");
      label.textContent = name;
      var select = document.createElement("select");
      select.id = id + "-treatment";
      select.className = "evidence-treatment";
      select.setAttribute("data-part", given.part.id);
      [["included", messages.include], ["omitted", messages.omit], ["redacted", messages.redact]].forEach(function (o) {
        var option = document.createElement("option");
        option.value = o[0];
        option.textContent = o[1];
        select.appendChild(option);
      });
      var reason = labelled(id + "-reason", "text", messages.reason);
      var copy = labelled(id + "-copy", "file", messages.copy);
      var extra = document.createElement("span");
      extra.hidden = true;
      extra.append(reason.label, reason.input, copy.label, copy.input);
      select.addEventListener("change", function () {
        extra.hidden = select.value === "included";
        copy.input.hidden = copy.label.hidden = select.value !== "redacted";
      });
      row.append(label, select, extra);
      rows.appendChild(row);
      choices[given.part.id] = { select: select, reason: reason.input, copy: copy.input };
    });
    panel.hidden = false;

    function exclusions() {
      var chosen = {};
      return Object.keys(choices).reduce(function (previous, partId) {
        return previous.then(function () {
          var choice = choices[partId];
          if (choice.select.value === "included") { return null; }
          if (!choice.reason.value.trim()) { throw Object.assign(new Error("reason"), { code: "need_reason" }); }
          chosen[partId] = { reason: choice.reason.value, copy: null };
          if (choice.select.value !== "redacted") { return null; }
          var file = choice.copy.files && choice.copy.files[0];
          if (!file) { throw Object.assign(new Error("copy"), { code: "need_copy" }); }
          return file.arrayBuffer().then(function (buffer) {
            chosen[partId].copy = { name: file.name, content: new Uint8Array(buffer) };
          });
        });
      }, Promise.resolve()).then(function () { return chosen; });
    }

    button.onclick = function () {
      if (!context.signingKey) {  // forgotten when the page was left (decrypt.js): unlock again
        panel.hidden = true;
        return;
      }
      button.disabled = true;
      say(messages.building, false);
      var excluded = null;
      exclusions().then(function (chosen) {
        excluded = chosen;
        return fetch(panel.getAttribute("data-evidence-url"), { credentials: "same-origin",
                                                                headers: { "Accept": "application/json" } });
      }).then(function (response) {
        if (!response.ok) { throw Object.assign(new Error("server"), { code: "server" }); }
        return response.json();
      }).then(function (data) {
        if (data.exporter.public_key !== format.keyText(sodium, PUBLIC_KEY_PREFIX, context.recipientPublicKey)) {
          throw Object.assign(new Error("not yours"), { code: "notyours" });
        }
        var built = build(sodium, {
          instance: data.instance, report: data.report, record: data.record, exporter: {
            id: data.exporter.id, body: data.exporter.body },
          exporterName: document.getElementById("evidence-name").value,
          exportedAt: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
          recipientPublicKey: context.recipientPublicKey, signingKey: context.signingKey,
          parts: context.parts, exclusions: excluded
        });
        var tree = {};
        built.files.forEach(function (entry) { tree[entry[0]] = [entry[1], { level: 0 }]; });
        var zipped = window.fflate.zipSync(tree);
        var url = URL.createObjectURL(new Blob([zipped], { type: "application/zip" }));
        var link = document.createElement("a");
        link.href = url;
        link.download = "evidence-" + data.report.id + ".zip";
        document.body.appendChild(link);
        link.click();
        link.remove();
        setTimeout(function () { URL.revokeObjectURL(url); }, 60000);
        say(messages.done.replace("%(key)s", built.verifyKey), false);
        document.getElementById("evidence-verify-key").textContent = built.verifyKey;
      }).catch(function (problem) {
        say(messages[problem && problem.code] || messages.failed, true);
      }).then(function () {
        button.disabled = false;
      });
    };
  }

  return { build: build, offer: offer, canonical: canonical };
}));
