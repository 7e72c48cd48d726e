/*
 * The desk's intake, sealed in the page (what `parrhesia desk intake` does on the
 * officer's machine, recipient/client.py `intake`; docs/format.md section 11).
 *
 * Every body key is checked before anything is made: the officer's own body's against
 * the keyring unlocked here (with a passphrase never sent anywhere), any other body's
 * against the fingerprint the officer confirmed out of band and ticked. Then: a codename
 * of seven words drawn uniformly from the codename wordlist, the source's key derived
 * from it by the server (which alone holds the pepper), a fresh report key, every part
 * sealed to it (partformat.js), the report key sealed to the source and to each body,
 * and only ciphertext POSTed. The codename goes onto the slip, never into storage, and
 * is removed from the page when the officer hides it.
 */
(function () {
  "use strict";

  var panel = document.getElementById("intake");
  if (!panel || !window.sodium || !window.ParrhesiaFormat) {
    return;
  }
  var sodium = window.sodium;
  var format = window.ParrhesiaFormat;
  var messages = JSON.parse(panel.getAttribute("data-messages"));
  var route = JSON.parse(panel.getAttribute("data-route"));
  var keyring = JSON.parse(panel.getAttribute("data-keyring"));
  var ownBody = panel.getAttribute("data-own-body");
  var csrfToken = panel.getAttribute("data-csrf");
  var statusLine = document.getElementById("intake-status");
  var sealButton = document.getElementById("intake-seal");
  var messageInput = document.getElementById("intake-message");
  var filesInput = document.getElementById("intake-files");
  var passphraseInput = document.getElementById("passphrase");
  var keyFileInput = document.getElementById("key-file");
  var PUBLIC_KEY_PREFIX = "prh1pk_";

  function problem(code, detail) {
    return Object.assign(new Error(code), { code: code, detail: detail });
  }

  function say(text, isError) {
    statusLine.textContent = text;
    statusLine.className = isError ? "error" : "";
  }

  function messageFor(error) {
    if (error && error.code === "refused") {
      return messages.refused.replace("%(reason)s", error.detail || "");
    }
    return (error && error.code && messages[error.code]) || messages.failed;
  }

  function standardBase64(bytes) {
    return sodium.to_base64(bytes, sodium.base64_variants.ORIGINAL);
  }

  function publicKeyText(bytes) {
    return format.keyText(sodium, PUBLIC_KEY_PREFIX, bytes);
  }

  function publicKeyBytes(text) {
    if (typeof text !== "string" || text.indexOf(PUBLIC_KEY_PREFIX) !== 0) {
      throw problem("fingerprint");
    }
    var bytes = format.base64url(sodium, text.slice(PUBLIC_KEY_PREFIX.length));
    if (bytes.length !== 32) {
      throw problem("fingerprint");
    }
    return bytes;
  }

  function equalBytes(a, b) {
    return a.length === b.length && sodium.memcmp(a, b);
  }

  function request(url, options) {
    return fetch(url, Object.assign({ credentials: "same-origin" }, options)).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (!response.ok) {
          throw problem(response.status >= 400 && response.status < 500 ? "refused" : "failed",
            body.error || ("HTTP " + response.status));
        }
        return body;
      });
    });
  }

  function post(url, data) {
    return request(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrfToken },
      body: JSON.stringify(data)
    });
  }

  function readKeyFile() {
    if (panel.getAttribute("data-stored-key") === "1") {
      return request(panel.getAttribute("data-key-url"), { headers: { "Accept": "application/json" } })
        .then(function (data) {
          if (!data.key_file) { throw problem("no_key"); }
          return data.key_file;
        });
    }
    var file = keyFileInput && keyFileInput.files && keyFileInput.files[0];
    if (!file) {
      return Promise.reject(problem("no_key"));
    }
    return file.text();
  }

  /* The body keys to seal to, each checked: the officer's own against the keyring
     unlocked here, every other one against the fingerprint the officer confirmed. */
  function checkedBodyKeys() {
    var ticked = {};
    Array.prototype.forEach.call(document.querySelectorAll("input.intake-trust"), function (box) {
      if (box.checked) { ticked[box.getAttribute("data-body")] = box.getAttribute("data-fingerprint"); }
    });
    var own = null;
    var keys = route.body_keys.map(function (entry) {
      var publicKey = publicKeyBytes(entry.public_key);
      if (entry.body === ownBody) {
        own = publicKey;
      } else {
        if (!(entry.body in ticked)) { throw problem("confirm"); }
        // The fingerprint the officer confirmed is of the key sealed to here, not the server's word.
        if (format.fingerprint(sodium, publicKey) !== ticked[entry.body]) { throw problem("fingerprint"); }
      }
      return { body: entry.body, generation: entry.generation, publicKey: publicKey };
    });
    if (own === null) {
      return Promise.resolve(keys);
    }
    var passphrase = passphraseInput ? passphraseInput.value : "";
    say(messages.unlocking, false);
    return readKeyFile().then(function (keyFileText) {
      // Let the status line paint before Argon2id blocks the page for a moment.
      return new Promise(function (resolve) { setTimeout(resolve, 30); }).then(function () {
        var holder = format.unwrapKeyFile(sodium, keyFileText, passphrase);
        passphraseInput.value = "";
        passphrase = null;
        var ring;
        try {
          ring = format.openKeyring(sodium, keyring, holder);
        } finally {
          sodium.memzero(holder.privateKey);
        }
        var newest = Math.max.apply(null, Object.keys(ring).map(Number));
        var matches = equalBytes(ring[newest].publicKey, own);
        Object.keys(ring).forEach(function (g) { sodium.memzero(ring[g].privateKey); });
        if (!matches) { throw problem("own_key"); }
        return keys;
      });
    });
  }

  /* Seven words drawn uniformly (randombytes_uniform: no modulo bias), as
     parrhesia.crypto.generate_codename draws them. */
  function newCodename() {
    return request(panel.getAttribute("data-wordlist-url"), { headers: { "Accept": "application/json" } })
      .then(function (list) {
        var words = [];
        for (var i = 0; i < list.length; i += 1) {
          words.push(list.words[sodium.randombytes_uniform(list.words.length)]);
        }
        return words.join(" ");
      });
  }

  function readFiles() {
    return Promise.all(Array.prototype.map.call(filesInput.files || [], function (file) {
      return file.arrayBuffer().then(function (buffer) {
        return { name: file.name, type: file.type || "application/octet-stream", content: new Uint8Array(buffer) };
      });
    }));
  }

  function sealedPart(reportKey, reportId, content, meta) {
    var partId = format.newPartId(sodium);
    var blob = format.encryptPart(sodium, content, reportKey.publicKey, reportId, partId, meta);
    return { id: partId, kind: meta.kind, ciphertext: standardBase64(blob) };
  }

  function file() {
    var text = messageInput.value;
    sealButton.disabled = true;
    var codename = null;
    var reportKey = null;
    var bodyKeys = null;
    var files = null;
    Promise.resolve().then(checkedBodyKeys).then(function (keys) {
      bodyKeys = keys;
      return readFiles();
    }).then(function (read) {
      files = read;
      if (!text.trim() && !files.length) { throw problem("empty"); }
      say(messages.sealing, false);
      return newCodename();
    }).then(function (made) {
      codename = made;
      return post(panel.getAttribute("data-source-url"), { codename: codename });
    }).then(function (source) {
      reportKey = sodium.crypto_box_keypair();
      var reportId = sodium.to_hex(sodium.randombytes_buf(16));
      var parts = [];
      if (text.trim()) {
        parts.push(sealedPart(reportKey, reportId, new TextEncoder().encode(text), { kind: "message" }));
      }
      files.forEach(function (chosen) {
        parts.push(sealedPart(reportKey, reportId, chosen.content,
          { kind: "attachment", filename: chosen.name, content_type: chosen.type }));
        chosen.content.fill(0);
      });
      var payload = {
        id: reportId,
        channel: panel.getAttribute("data-channel"),
        fields: route.fields,
        public_key: publicKeyText(reportKey.publicKey),
        lookup_id: source.lookup_id,
        source_sealed_key: standardBase64(sodium.crypto_box_seal(reportKey.privateKey, publicKeyBytes(source.public_key))),
        bodies: bodyKeys.map(function (key) {
          return { body: key.body, generation: key.generation,
                   sealed_key: standardBase64(sodium.crypto_box_seal(reportKey.privateKey, key.publicKey)) };
        }),
        parts: parts,
        name_officer: panel.getAttribute("data-name-officer") === "1"
      };
      // Nothing of the report key stays in the page: the bodies and the source hold it, sealed.
      sodium.memzero(reportKey.privateKey);
      say(messages.filing, false);
      return post(panel.getAttribute("data-file-url"), payload);
    }).then(function (stored) {
      messageInput.value = "";
      filesInput.value = "";
      showSlip(codename, stored);
      codename = null;
      say(messages.filed, false);
    }).catch(function (error) {
      if (reportKey) { sodium.memzero(reportKey.privateKey); }
      codename = null;
      say(messageFor(error), true);
      sealButton.disabled = false;
    });
  }

  function showSlip(codename, stored) {
    document.getElementById("intake-taking").hidden = true;
    document.getElementById("slip-codename").textContent = codename;
    document.getElementById("slip-report").textContent = stored.id;
    var slip = document.getElementById("slip");
    slip.setAttribute("data-report", stored.id);
    slip.setAttribute("data-route", stored.route.join(" "));
    slip.setAttribute("data-your-body-receives", stored.your_body_receives ? "1" : "0");
    slip.hidden = false;
    document.getElementById("slip-print").focus();
  }

  function hideCodename() {
    var shown = document.getElementById("slip-codename");
    shown.textContent = "";
    shown.remove();
    document.getElementById("slip-print").disabled = true;
    document.getElementById("slip-hide").disabled = true;
    document.getElementById("slip-status").textContent = messages.hidden;
  }

  say(messages.loading, false);
  sodium.ready.then(function () {
    panel.hidden = false;
    say("", false);
    sealButton.addEventListener("click", file);
    document.getElementById("slip-print").addEventListener("click", function () { window.print(); });
    document.getElementById("slip-hide").addEventListener("click", hideCodename);
    // Leaving the page forgets the codename too (nor may the back-forward cache keep it).
    window.addEventListener("pagehide", function () {
      var shown = document.getElementById("slip-codename");
      if (shown) { shown.textContent = ""; }
    });
    document.documentElement.setAttribute("data-desk-crypto", "ready");
  });
})();
