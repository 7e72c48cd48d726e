/*
 * The desk's in-browser decryption (progressive enhancement of the report page).
 *
 * The recipient's key file (kept on the server wrapped, or chosen from disk) is
 * unlocked here with a passphrase that is never sent anywhere; the report key and each
 * part are opened with libsodium (partformat.js). Content is shown with textContent
 * only, attachments as Blob downloads. Replies are sealed here to the report's public
 * key and PUT as ciphertext; without this script the plain form is sealed on the server.
 */
(function () {
  "use strict";

  var panel = document.getElementById("decrypt");
  if (!panel || !window.sodium || !window.ParrhesiaFormat) {
    return;
  }
  var sodium = window.sodium;
  var format = window.ParrhesiaFormat;
  var messages = JSON.parse(panel.getAttribute("data-messages"));
  var csrfToken = panel.getAttribute("data-csrf");
  var statusLine = document.getElementById("decrypt-status");
  var list = document.getElementById("decrypted");
  var unlockButton = document.getElementById("unlock");
  var passphraseInput = document.getElementById("passphrase");
  var fileInput = document.getElementById("key-file");
  var replyForm = document.getElementById("reply-form");
  var reportData = null;
  var blobUrls = [];
  var evidence = null;  // what evidence.js needs to build a package, once decrypted

  function say(text, isError) {
    statusLine.textContent = text;
    statusLine.className = isError ? "error" : "";
  }

  function messageFor(error) {
    return (error && error.code && messages[error.code]) || messages.failed;
  }

  function fetchJson(url) {
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      });
  }

  function fetchBytes(url) {
    return fetch(url, { credentials: "same-origin" }).then(function (response) {
      if (!response.ok) {
        throw new Error("HTTP " + response.status);
      }
      return response.arrayBuffer();
    }).then(function (buffer) { return new Uint8Array(buffer); });
  }

  function loadReport() {
    if (reportData) {
      return Promise.resolve(reportData);
    }
    return fetchJson(panel.getAttribute("data-report-url")).then(function (data) {
      reportData = data;
      return data;
    });
  }

  function readKeyFile() {
    if (panel.getAttribute("data-stored-key") === "1") {
      return fetchJson(panel.getAttribute("data-key-url")).then(function (data) {
        if (!data.key_file) {
          throw Object.assign(new Error("no key"), { code: "no_key" });
        }
        return data.key_file;
      });
    }
    var file = fileInput && fileInput.files && fileInput.files[0];
    if (!file) {
      return Promise.reject(Object.assign(new Error("no key"), { code: "no_key" }));
    }
    return new Promise(function (resolve, reject) {
      var reader = new FileReader();
      reader.onload = function () { resolve(String(reader.result)); };
      reader.onerror = function () { reject(Object.assign(new Error("unreadable"), { code: "keyfile" })); };
      reader.readAsText(file);
    });
  }

  function show(part, result, problem) {
    var item = document.createElement("li");
    item.className = part.author + " " + part.kind;
    item.setAttribute("data-part", part.id);
    var who = document.createElement("p");
    who.className = "who";
    who.textContent = (part.author === "source" ? messages.source : messages.recipient) + " · " + part.kind + " · " + part.created_on;
    item.appendChild(who);
    if (problem) {
      var error = document.createElement("p");
      error.className = "error";
      error.textContent = messageFor(problem);
      item.appendChild(error);
    } else if (part.kind === "attachment") {
      // The same rule, and the same fallback (the part id), as `parrhesia desk pull`.
      var filename = format.sanitiseFilename(result.meta.filename, part.id);
      // Always octet-stream: a Blob URL shares this page's origin, so it must never render.
      var url = URL.createObjectURL(new Blob([result.content], { type: "application/octet-stream" }));
      blobUrls.push(url);
      var link = document.createElement("a");
      link.href = url;
      link.download = filename;
      link.textContent = messages.download + ": " + filename;
      var line = document.createElement("p");
      line.appendChild(link);
      item.appendChild(line);
    } else {
      var text = document.createElement("div");
      text.className = "text";
      text.textContent = new TextDecoder("utf-8").decode(result.content);
      item.appendChild(text);
    }
    list.appendChild(item);
  }

  function unlock() {
    var passphrase = passphraseInput.value;
    unlockButton.disabled = true;
    say(messages.unlocking, false);
    var holder = null;
    readKeyFile().then(function (keyFileText) {
      // Let the status line paint before Argon2id blocks the page for a moment.
      return new Promise(function (resolve) { setTimeout(resolve, 30); }).then(function () {
        holder = format.unwrapKeyFile(sodium, keyFileText, passphrase);
        passphraseInput.value = "";
        passphrase = null;
        return loadReport();
      });
    }).then(function (data) {
      if (!data.sealed_key) {
        throw Object.assign(new Error("not sealed to you"), { code: "notyours" });
      }
      say(messages.decrypting, false);
      // The report key is sealed to the body's key (generation data.generation), which
      // this recipient holds through the grant a colleague made for them; null: sealed
      // to the recipient's own key (format v1).
      var ring = data.generation === null ? null : format.openKeyring(sodium, data.keyring, holder);
      var keyFor = function (generation) {
        if (generation === null || generation === undefined) { return holder; }
        if (!ring[generation]) { throw Object.assign(new Error("not held"), { code: "notyours" }); }
        return ring[generation];
      };
      var reportKey = format.openSealedKey(sodium, format.base64url(sodium, data.sealed_key), keyFor(data.generation));
      var noteKeys = {};
      data.parts.forEach(function (part) {
        if (part.sealed_note_key) {
          try {
            noteKeys[part.id] = format.openSealedKey(sodium, format.base64url(sodium, part.sealed_note_key),
              keyFor(part.note_generation));
          } catch (e) {
            noteKeys[part.id] = e;
          }
        }
      });
      // The key this recipient signs an evidence package with (evidence.js), derived now,
      // while their key is open; it signs nothing else.
      if (window.ParrhesiaEvidence) {
        if (evidence && evidence.signingKey) { sodium.memzero(evidence.signingKey.privateKey); }
        evidence = { sodium: sodium, signingKey: format.evidenceSigningKey(sodium, holder.privateKey),
                     recipientPublicKey: holder.publicKey, parts: [] };
      }
      sodium.memzero(holder.privateKey);
      if (ring) {
        Object.keys(ring).forEach(function (g) { sodium.memzero(ring[g].privateKey); });
      }
      blobUrls.forEach(function (url) { URL.revokeObjectURL(url); });
      blobUrls = [];
      list.textContent = "";
      return data.parts.reduce(function (previous, part) {
        return previous.then(function () {
          var keypair = part.kind === "note" ? noteKeys[part.id] : reportKey;
          // What the evidence package records of each part: its content, and the hash of
          // the ciphertext it was decrypted from (or why it could not be).
          var kept = { part: part, content: null, meta: null, ciphertext: null, problem: null };
          if (evidence) { evidence.parts.push(kept); }
          if (!keypair || keypair instanceof Error) {
            kept.problem = "cannot decrypt: the key of this part is not held";
            show(part, null, keypair || { code: "notyours" });
            return null;
          }
          return fetchBytes(part.url).then(function (blob) {
            kept.ciphertext = { sha256: sodium.to_hex(sodium.crypto_hash_sha256(blob)), size: blob.length };
            var result = format.decryptPart(sodium, blob, keypair, data.id, part.id);
            kept.content = result.content;
            kept.meta = result.meta;
            show(part, result, null);
          }).catch(function (problem) {
            kept.problem = kept.ciphertext ? "cannot decrypt: " + (problem && problem.message || problem)
              : "cannot download: " + (problem && problem.message || problem);
            show(part, null, problem);
          });
        });
      }, Promise.resolve()).then(function () {
        sealForTransfer(data, reportKey);
        sodium.memzero(reportKey.privateKey);
        if (evidence) { window.ParrhesiaEvidence.offer(evidence); }
        say(messages.done, false);
      });
    }).catch(function (problem) {
      if (holder) {
        sodium.memzero(holder.privateKey);
      }
      say(messageFor(problem), true);
    }).then(function () {
      unlockButton.disabled = false;
    });
  }

  /*
   * While the report key is open, seal it to the body key of every body the report
   * may be transferred to (the server never holds it), and fill in the transfer form
   * when the officer picks one: a body outside the escalation chain can then read it.
   */
  function sealForTransfer(data, reportKey) {
    var form = document.getElementById("transfer-target");
    var sealedField = document.getElementById("transfer-sealed-key");
    var generationField = document.getElementById("transfer-generation");
    if (!form || !sealedField || !generationField || !data.transfer_keys) {
      return;
    }
    var sealed = {};
    Object.keys(data.transfer_keys).forEach(function (bodyId) {
      var target = data.transfer_keys[bodyId];
      sealed[bodyId] = {
        generation: String(target.generation),
        key: sodium.to_base64(sodium.crypto_box_seal(reportKey.privateKey, format.base64url(sodium, target.public_key)),
          sodium.base64_variants.URLSAFE_NO_PADDING)
      };
    });
    var fill = function () {
      var chosen = sealed[form.value];
      sealedField.value = chosen ? chosen.key : "";
      generationField.value = chosen ? chosen.generation : "";
    };
    form.addEventListener("change", fill);
    fill();
  }

  function sendReply(event) {
    event.preventDefault();
    var textArea = replyForm.querySelector("textarea");
    var feedback = replyForm.querySelector("input[type=checkbox]");
    var button = replyForm.querySelector("button[type=submit]");
    if (!textArea.value.trim()) {
      say(messages.empty, true);
      return;
    }
    button.disabled = true;
    say(messages.sealing, false);
    loadReport().then(function (data) {
      var partId = format.newPartId(sodium);
      var blob = format.encryptPart(sodium, new TextEncoder().encode(textArea.value),
        format.base64url(sodium, data.public_key), data.id, partId, { kind: "reply" });
      var url = panel.getAttribute("data-reply-url").replace("PART", partId) + (feedback && feedback.checked ? "?feedback=1" : "");
      return fetch(url, {
        method: "PUT",
        credentials: "same-origin",
        headers: { "Content-Type": "application/octet-stream", "X-CSRFToken": csrfToken },
        body: blob
      });
    }).then(function (response) {
      if (response.status !== 201) {
        throw new Error("HTTP " + response.status);
      }
      textArea.value = "";
      window.location.assign(panel.getAttribute("data-back-url"));
    }).catch(function () {
      say(messages.sent_failed, true);
      button.disabled = false;
    });
  }

  say(messages.loading, false);
  sodium.ready.then(function () {
    panel.hidden = false;
    say("", false);
    unlockButton.addEventListener("click", unlock);
    passphraseInput.addEventListener("keydown", function (event) {
      if (event.key === "Enter") {
        event.preventDefault();
        unlock();
      }
    });
    if (replyForm) {
      replyForm.addEventListener("submit", sendReply);
      var mode = document.getElementById("reply-mode");
      if (mode) {
        mode.textContent = messages.sealed_here;
      }
    }
    // Leaving the page forgets the evidence key (nor may the back-forward cache keep it).
    window.addEventListener("pagehide", function () {
      if (evidence) {
        sodium.memzero(evidence.signingKey.privateKey);
        evidence.signingKey = null;  // a page restored from the back-forward cache must unlock again
        evidence = null;
      }
    });
    document.documentElement.setAttribute("data-desk-crypto", "ready");
  });
})();
