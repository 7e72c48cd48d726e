/*
 * Parrhesia's cryptographic format, version 1, for the browser (and node, for tests).
 *
 * The same bytes as core/parrhesia/crypto/ writes and reads, specified in
 * docs/format.md: passphrase-wrapped key files (section 3), sealed report keys
 * (section 1) and parts (section 5: sealed content key, secretstream chunks with
 * associated data, `used` framing, Padme padding). Every function takes the
 * libsodium object (libsodium-wrappers-sumo, after `sodium.ready`); nothing here
 * touches the page or the network.
 */
(function (root, factory) {
  "use strict";
  if (typeof module === "object" && module.exports) {
    module.exports = factory();
  } else {
    root.ParrhesiaFormat = factory();
  }
})(typeof self !== "undefined" ? self : this, function () {
  "use strict";

  var MAGIC = [0x50, 0x52, 0x48, 0x50]; // "PRHP"
  var VERSION = 1;
  var CHUNK_SIZE = 65536;
  var ABYTES = 17;
  var CIPHERTEXT_CHUNK_SIZE = CHUNK_SIZE + ABYTES;
  var CHUNK_CAPACITY = CHUNK_SIZE - 4;
  var SEALED_KEY_SIZE = 80;
  var STREAM_HEADER_SIZE = 24;
  var PREAMBLE_SIZE = 9;
  var HEADER_SIZE = PREAMBLE_SIZE + SEALED_KEY_SIZE + STREAM_HEADER_SIZE; // 113
  var KEY_FILE_FORMAT = "parrhesia-recipient-key";
  var FINGERPRINT_PERSON = "parrhesia-fpr-v1";
  // libsodium's Argon2id bounds (the wrappers report OPSLIMIT_MAX as -1, so they are
  // written out), and the ceiling of docs/format.md section 3.
  var OPSLIMIT_MIN = 1;
  var OPSLIMIT_MAX = 4294967295;
  var MEMLIMIT_MIN = 8192;
  var MEMLIMIT_CEILING = 4 * 1024 * 1024 * 1024;

  /** A problem a reader must report; `code` says which kind (for translated messages). */
  function FormatError(code, message) {
    var error = new Error(message);
    error.name = "FormatError";
    error.code = code;
    return error;
  }

  var encoder = new TextEncoder();
  var decoder = new TextDecoder("utf-8", { fatal: true });

  function bitLength(n) {
    var bits = 0;
    while (n >= 1) {
      n = Math.floor(n / 2);
      bits += 1;
    }
    return bits;
  }

  /** Padme (section 5.3), exact for every length below 2^53. */
  function padme(n) {
    if (n < 2) {
      return n;
    }
    var e = bitLength(n) - 1;
    var s = bitLength(e);
    var step = Math.pow(2, e - s);
    return Math.ceil(n / step) * step;
  }

  function paddedChunkCount(payloadSize) {
    return Math.max(1, Math.ceil(padme(payloadSize) / CHUNK_CAPACITY));
  }

  function associatedData(reportId, partId) {
    [reportId, partId].forEach(function (value) {
      if (typeof value !== "string" || !value || value.indexOf("\u0000") !== -1) {
        throw new TypeError("report and part ids must be non-empty strings without NUL");
      }
    });
    return concat([encoder.encode("parrhesia/part/v1\u0000"), encoder.encode(reportId),
      new Uint8Array([0]), encoder.encode(partId)]);
  }

  function concat(arrays) {
    var total = arrays.reduce(function (sum, a) { return sum + a.length; }, 0);
    var out = new Uint8Array(total);
    var offset = 0;
    arrays.forEach(function (a) { out.set(a, offset); offset += a.length; });
    return out;
  }

  function readUint32(bytes, offset) {
    return ((bytes[offset] << 24) >>> 0) + (bytes[offset + 1] << 16) + (bytes[offset + 2] << 8) + bytes[offset + 3];
  }

  function writeUint32(bytes, offset, value) {
    bytes[offset] = (value >>> 24) & 0xff;
    bytes[offset + 1] = (value >>> 16) & 0xff;
    bytes[offset + 2] = (value >>> 8) & 0xff;
    bytes[offset + 3] = value & 0xff;
  }

  function equalBytes(a, b) {
    if (a.length !== b.length) {
      return false;
    }
    var diff = 0;
    for (var i = 0; i < a.length; i += 1) {
      diff |= a[i] ^ b[i];
    }
    return diff === 0;
  }

  /** Strict unpadded base64url (the encoding of section 2 and 3). */
  function b64url(sodium, text) {
    if (typeof text !== "string" || !/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) {
      throw FormatError("damaged", "not valid unpadded base64url text");
    }
    var bytes = sodium.from_base64(text, sodium.base64_variants.URLSAFE_NO_PADDING);
    if (sodium.to_base64(bytes, sodium.base64_variants.URLSAFE_NO_PADDING) !== text) {
      throw FormatError("damaged", "not canonical base64url text");
    }
    return bytes;
  }

  /**
   * BLAKE2b(data, no key, all-zero salt, personal) — docs/format.md's BLAKE2b.
   * The wrappers' crypto_generichash_blake2b_salt_personal hashes an empty message
   * (it is a key derivation), so libsodium's own function is called directly.
   */
  function blake2bPersonal(sodium, data, outLength, personal, key) {
    var module = sodium.libsodium;
    var keyLength = key ? key.length : 0;
    var sizes = [outLength, Math.max(1, data.length), 16, 16, Math.max(1, keyLength)];
    var pointers = sizes.map(function (size) { return module._malloc(size); });
    try {
      module.HEAPU8.set(data, pointers[1]);
      module.HEAPU8.fill(0, pointers[2], pointers[2] + 16);
      module.HEAPU8.set(personal, pointers[3]);
      if (key) { module.HEAPU8.set(key, pointers[4]); }
      // (out, outlen, in, inlen as two 32-bit halves, key, keylen, salt, personal)
      var status = module._crypto_generichash_blake2b_salt_personal(
        pointers[0], outLength, pointers[1], data.length, 0, key ? pointers[4] : 0, keyLength, pointers[2], pointers[3]);
      if (status !== 0) {
        throw new Error("BLAKE2b failed");
      }
      return module.HEAPU8.slice(pointers[0], pointers[0] + outLength);
    } finally {
      if (key) { module.HEAPU8.fill(0, pointers[4], pointers[4] + keyLength); }
      pointers.forEach(function (pointer) { module._free(pointer); });
    }
  }

  /**
   * The Ed25519 key pair a recipient signs evidence packages with (section 10): its seed
   * is BLAKE2b of nothing, keyed with the recipient's X25519 private key, personalised
   * "prh-evidence-sig".
   */
  function evidenceSigningKey(sodium, x25519PrivateKey) {
    var seed = blake2bPersonal(sodium, new Uint8Array(0), 32, new TextEncoder().encode("prh-evidence-sig"),
      x25519PrivateKey);
    try {
      return sodium.crypto_sign_seed_keypair(seed);
    } finally {
      sodium.memzero(seed);
    }
  }

  /** A key's text form (sections 1 and 9): prefix ("prh1pk_" or "prh1vk_") and unpadded base64url. */
  function keyText(sodium, prefix, bytes) {
    return prefix + sodium.to_base64(bytes, sodium.base64_variants.URLSAFE_NO_PADDING);
  }

  /** The fingerprint of a public key (section 2): "1A2B 3C4D ..." (ten groups of four). */
  function fingerprint(sodium, publicKey) {
    var digest = blake2bPersonal(sodium, publicKey, 32, encoder.encode(FINGERPRINT_PERSON));
    var hex = sodium.to_hex(digest.subarray(0, 20)).toUpperCase();
    return hex.match(/.{4}/g).join(" ");
  }

  function isInt(value) {
    return typeof value === "number" && Number.isInteger(value);
  }

  /**
   * Open a key file (section 3) with its passphrase; return {publicKey, privateKey}.
   * Throws a FormatError with code "passphrase" for a wrong passphrase.
   */
  function unwrapKeyFile(sodium, keyFileText, passphrase) {
    var document;
    try {
      document = JSON.parse(keyFileText);
    } catch (e) {
      throw FormatError("keyfile", "this is not a Parrhesia key file (not JSON)");
    }
    if (!document || typeof document !== "object" || document.format !== KEY_FILE_FORMAT) {
      throw FormatError("keyfile", "this is not a Parrhesia key file");
    }
    if (document.version !== 1) {
      throw FormatError("keyfile", "unsupported key file version " + document.version);
    }
    var publicKey = b64url(sodium, document.public_key);
    if (publicKey.length !== 32 || document.fingerprint !== fingerprint(sodium, publicKey)) {
      throw FormatError("keyfile", "the key file is damaged: its fingerprint does not match its key");
    }
    var kdf = document.kdf;
    if (!kdf || kdf.alg !== "argon2id13" || !isInt(kdf.opslimit) || !isInt(kdf.memlimit) ||
        kdf.opslimit < OPSLIMIT_MIN || kdf.opslimit > OPSLIMIT_MAX ||
        kdf.memlimit < MEMLIMIT_MIN || kdf.memlimit > MEMLIMIT_CEILING) {
      throw FormatError("keyfile", "the key file has invalid key derivation parameters");
    }
    var salt = b64url(sodium, kdf.salt);
    var wrapped = b64url(sodium, document.wrapped);
    if (salt.length !== sodium.crypto_pwhash_SALTBYTES || wrapped.length !== 24 + 48) {
      throw FormatError("keyfile", "the key file is damaged");
    }
    var wrapKey = sodium.crypto_pwhash(32, encoder.encode(passphrase), salt, kdf.opslimit, kdf.memlimit,
      sodium.crypto_pwhash_ALG_ARGON2ID13);
    var privateKey;
    try {
      privateKey = sodium.crypto_secretbox_open_easy(wrapped.subarray(24), wrapped.subarray(0, 24), wrapKey);
    } catch (e) {
      throw FormatError("passphrase", "wrong passphrase or damaged key file");
    } finally {
      sodium.memzero(wrapKey);
    }
    if (privateKey.length !== 32 || !equalBytes(sodium.crypto_scalarmult_base(privateKey), publicKey)) {
      throw FormatError("keyfile", "the key file is damaged: its private and public keys do not match");
    }
    return { publicKey: publicKey, privateKey: privateKey };
  }

  /** Open a sealed 32-byte key (a report key or a note key) with a holder's keypair. */
  function openSealedKey(sodium, sealed, holder) {
    var key;
    try {
      key = sodium.crypto_box_seal_open(sealed, holder.publicKey, holder.privateKey);
    } catch (e) {
      throw FormatError("notyours", "this key was sealed to someone else, or it is damaged");
    }
    if (key.length !== 32) {
      throw FormatError("damaged", "the sealed key is damaged");
    }
    return { publicKey: sodium.crypto_scalarmult_base(key), privateKey: key };
  }

  /**
   * Open a recipient's body keyring (section 1): their grant of the newest generation
   * they hold, an authenticated box from the member who vouched for them, then every
   * older generation through the previous key each one carries. Returns
   * { generation: keypair }. The keyring is as the desk sends it (b64url fields).
   */
  function openKeyring(sodium, keyring, holder) {
    var held = null;
    keyring.forEach(function (entry) { if (!held && entry.grant) { held = entry; } });
    if (!held) {
      throw FormatError("nogrant", "you hold no grant of your body's key yet: a colleague must vouch for you");
    }
    var bodyPublic = b64url(sodium, held.public_key);
    var raw;
    try {
      var boxed = b64url(sodium, held.grant.boxed);
      raw = sodium.crypto_box_open_easy(boxed.subarray(24), boxed.subarray(0, 24),
        b64url(sodium, held.grant.vouched_by.public_key), holder.privateKey);
    } catch (e) {
      throw FormatError("notyours", "this body key grant was not made for your key by the member it names");
    }
    if (raw.length !== 32 || !equalBytes(sodium.crypto_scalarmult_base(raw), bodyPublic)) {
      throw FormatError("damaged", "the body key grant does not hold the body key the server lists");
    }
    var keys = {};
    var newer = { publicKey: bodyPublic, privateKey: raw };
    var newerEntry = held;
    keys[held.generation] = newer;
    keyring.forEach(function (entry) {
      if (entry.generation >= held.generation) { return; }
      var previous = openSealedKey(sodium, b64url(sodium, newerEntry.previous_sealed), newer);
      if (!equalBytes(previous.publicKey, b64url(sodium, entry.public_key))) {
        throw FormatError("damaged", "your body's key chain is broken");
      }
      keys[entry.generation] = previous;
      newer = previous;
      newerEntry = entry;
    });
    return keys;
  }

  function checkPreamble(blob) {
    for (var i = 0; i < 4; i += 1) {
      if (blob[i] !== MAGIC[i]) {
        throw FormatError("format", "this is not a Parrhesia part (wrong magic bytes)");
      }
    }
    if (blob[4] !== VERSION) {
      throw FormatError("format", "unsupported part format version " + blob[4]);
    }
    if (readUint32(blob, 5) !== CHUNK_SIZE) {
      throw FormatError("format", "unsupported chunk size for part format version 1");
    }
  }

  /**
   * Decrypt a whole part (section 5.5) with the keypair it is sealed to (the report
   * key, or a note's own key); return {meta, content}. Every check of the reference
   * reader is made, and nothing is returned before the final chunk verified.
   */
  function decryptPart(sodium, blob, keypair, reportId, partId) {
    var ad = associatedData(reportId, partId);
    if (blob.length < 4) {
      throw FormatError("truncated", "the data ends before its final chunk: it is truncated");
    }
    checkPreamble(blob);
    if (blob.length < HEADER_SIZE) {
      throw FormatError("truncated", "the data ends before its final chunk: it is truncated");
    }
    var contentKey;
    try {
      contentKey = sodium.crypto_box_seal_open(blob.subarray(PREAMBLE_SIZE, PREAMBLE_SIZE + SEALED_KEY_SIZE),
        keypair.publicKey, keypair.privateKey);
    } catch (e) {
      throw FormatError("notyours", "this part cannot be opened with this key");
    }
    var state = sodium.crypto_secretstream_xchacha20poly1305_init_pull(
      blob.subarray(PREAMBLE_SIZE + SEALED_KEY_SIZE, HEADER_SIZE), contentKey);
    sodium.memzero(contentKey);
    var chunkCount = Math.floor((blob.length - HEADER_SIZE) / CIPHERTEXT_CHUNK_SIZE);
    var payload = new Uint8Array(chunkCount * CHUNK_CAPACITY);
    var payloadSize = 0;
    var paddingStarted = false;
    var finished = false;
    var offset = HEADER_SIZE;
    var chunks = 0;
    while (!finished) {
      if (offset + CIPHERTEXT_CHUNK_SIZE > blob.length) {
        throw FormatError("truncated", "the data ends before its final chunk: it is truncated");
      }
      var pulled = sodium.crypto_secretstream_xchacha20poly1305_pull(
        state, blob.subarray(offset, offset + CIPHERTEXT_CHUNK_SIZE), ad);
      offset += CIPHERTEXT_CHUNK_SIZE;
      if (!pulled) {
        throw FormatError("damaged", "the part is damaged or was tampered with (or belongs to another report or part)");
      }
      var plain = pulled.message;
      var tag = pulled.tag;
      if ((tag !== sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE &&
           tag !== sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL) || plain.length !== CHUNK_SIZE) {
        throw FormatError("format", "the part contains a chunk this version does not allow");
      }
      var used = readUint32(plain, 0);
      if (used > CHUNK_CAPACITY) {
        throw FormatError("format", "a chunk of the part claims more bytes than it can hold");
      }
      if (used && paddingStarted) {
        throw FormatError("format", "the part has content after its padding began");
      }
      if (used < CHUNK_CAPACITY) {
        paddingStarted = true;
        for (var i = 4 + used; i < CHUNK_SIZE; i += 1) {
          if (plain[i] !== 0) {
            throw FormatError("format", "the part's padding is not all zero");
          }
        }
      }
      payload.set(plain.subarray(4, 4 + used), payloadSize);
      payloadSize += used;
      chunks += 1;
      if (tag === sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL) {
        finished = true;
      }
    }
    if (offset !== blob.length) {
      throw FormatError("damaged", "there is extra data after the part's final chunk");
    }
    if (chunks !== paddedChunkCount(payloadSize)) {
      throw FormatError("format", "the part is not padded as format version 1 requires");
    }
    if (payloadSize < 4) {
      throw FormatError("format", "the part's first chunk has no metadata");
    }
    var metaLength = readUint32(payload, 0);
    if (4 + metaLength > Math.min(payloadSize, CHUNK_CAPACITY)) {
      throw FormatError("format", "the part's metadata does not fit in its first chunk");
    }
    var meta;
    try {
      meta = JSON.parse(decoder.decode(payload.subarray(4, 4 + metaLength)));
    } catch (e) {
      throw FormatError("format", "the part's metadata is not valid UTF-8 JSON");
    }
    if (!meta || typeof meta !== "object" || Array.isArray(meta)) {
      throw FormatError("format", "the part's metadata is not a JSON object");
    }
    return { meta: meta, content: payload.slice(4 + metaLength, payloadSize) };
  }

  /** Compact JSON with sorted keys, as the reference writer serialises meta. */
  function encodeMeta(meta) {
    var sorted = {};
    Object.keys(meta).sort().forEach(function (key) { sorted[key] = meta[key]; });
    var bytes = encoder.encode(JSON.stringify(sorted));
    if (bytes.length > CHUNK_CAPACITY - 4) {
      throw new RangeError("part metadata is too large");
    }
    return bytes;
  }

  /**
   * Encrypt a part held in memory to a report public key (the PartWriter of section
   * 5): sealed content key, padded chunks, TAG_FINAL on the last one.
   */
  function encryptPart(sodium, content, reportPublicKey, reportId, partId, meta) {
    var ad = associatedData(reportId, partId);
    var metaBytes = encodeMeta(meta);
    var payloadSize = 4 + metaBytes.length + content.length;
    var total = paddedChunkCount(payloadSize);
    var blob = new Uint8Array(HEADER_SIZE + total * CIPHERTEXT_CHUNK_SIZE);
    blob.set(MAGIC, 0);
    blob[4] = VERSION;
    writeUint32(blob, 5, CHUNK_SIZE);
    var contentKey = sodium.crypto_secretstream_xchacha20poly1305_keygen();
    blob.set(sodium.crypto_box_seal(contentKey, reportPublicKey), PREAMBLE_SIZE);
    var pushed = sodium.crypto_secretstream_xchacha20poly1305_init_push(contentKey);
    sodium.memzero(contentKey);
    blob.set(pushed.header, PREAMBLE_SIZE + SEALED_KEY_SIZE);
    var lengthField = new Uint8Array(4);
    writeUint32(lengthField, 0, metaBytes.length);
    var pieces = [lengthField, metaBytes, content];
    var piece = 0;
    var pieceOffset = 0;
    for (var index = 0; index < total; index += 1) {
      var chunk = new Uint8Array(CHUNK_SIZE);
      var fill = 4;
      while (fill < CHUNK_SIZE && piece < pieces.length) {
        var source = pieces[piece];
        var take = Math.min(CHUNK_SIZE - fill, source.length - pieceOffset);
        chunk.set(source.subarray(pieceOffset, pieceOffset + take), fill);
        fill += take;
        pieceOffset += take;
        if (pieceOffset === source.length) {
          piece += 1;
          pieceOffset = 0;
        }
      }
      writeUint32(chunk, 0, fill - 4);
      var tag = index === total - 1 ? sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL
        : sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
      var ciphertext = sodium.crypto_secretstream_xchacha20poly1305_push(pushed.state, chunk, ad, tag);
      blob.set(ciphertext, HEADER_SIZE + index * CIPHERTEXT_CHUNK_SIZE);
      chunk.fill(0);
    }
    return blob;
  }

  // Attachment file names: the rule of core/parrhesia/crypto/filenames.py, checked
  // against the same vectors (tests/vectors/filenames.json), so that the browser desk
  // and `parrhesia desk pull` save an attachment under the same name, or refuse it alike.
  var FILENAME_MAX_BYTES = 255; // the common file-system limit for one path component
  // Control, invisible formatting (e.g. U+202E, which makes "fdp.exe" look like a PDF),
  // line and paragraph separators, lone surrogates, private use, unassigned.
  var FILENAME_REFUSED = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\p{Co}\p{Cn}]/u;
  var FILENAME_FORBIDDEN = /[<>:"|?*]/g; // not allowed in names on Windows
  var WINDOWS_RESERVED = ["CON", "PRN", "AUX", "NUL"];
  for (var reserved = 1; reserved <= 9; reserved++) {
    WINDOWS_RESERVED.push("COM" + reserved, "LPT" + reserved);
  }

  function utf8Length(text) {
    return new TextEncoder().encode(text).length;
  }

  function truncateFilename(name) {
    if (utf8Length(name) <= FILENAME_MAX_BYTES) {
      return name;
    }
    var dot = name.lastIndexOf(".");
    var stem = name.slice(0, Math.max(dot, 0));
    var tail = dot >= 0 ? name.slice(dot) : "";
    if (dot < 0 || !stem || Array.from(tail).length - 1 > 16) {
      stem = name;
      tail = "";
    }
    var bytes = new TextEncoder().encode(stem);
    var cut = Math.min(bytes.length, FILENAME_MAX_BYTES - utf8Length(tail));
    while (cut > 0 && cut < bytes.length && (bytes[cut] & 0xc0) === 0x80) {
      cut--; // never half a character
    }
    return new TextDecoder("utf-8").decode(bytes.subarray(0, cut)).replace(/[. ]+$/, "") + tail;
  }

  function cleanFilename(name) {
    if (typeof name !== "string") {
      return null;
    }
    name = name.normalize("NFC");
    if (FILENAME_REFUSED.test(name)) {
      return null;
    }
    name = name.replace(/\\/g, "/");
    name = name.slice(name.lastIndexOf("/") + 1);
    name = name.replace(FILENAME_FORBIDDEN, "_").replace(/^[\s.]+|[\s.]+$/gu, "");
    if (!name) {
      return null;
    }
    if (WINDOWS_RESERVED.indexOf(name.split(".")[0].toUpperCase()) >= 0) {
      name = "_" + name;
    }
    return truncateFilename(name);
  }

  /**
   * A safe single-component file name for `name` (from the source, i.e. anyone), else
   * for `fallback` (normally the part id), else "attachment". Path components are
   * stripped, leading and trailing dots and spaces removed; a name with control or
   * invisible formatting characters is refused outright.
   */
  function sanitiseFilename(name, fallback) {
    return cleanFilename(name) || cleanFilename(fallback) || "attachment";
  }

  /** A fresh part id: 32 lowercase hexadecimal characters. */
  function newPartId(sodium) {
    return sodium.to_hex(sodium.randombytes_buf(16));
  }

  return {
    HEADER_SIZE: HEADER_SIZE,
    CIPHERTEXT_CHUNK_SIZE: CIPHERTEXT_CHUNK_SIZE,
    FormatError: FormatError,
    padme: padme,
    paddedChunkCount: paddedChunkCount,
    associatedData: associatedData,
    fingerprint: fingerprint,
    evidenceSigningKey: evidenceSigningKey,
    keyText: keyText,
    base64url: b64url,
    unwrapKeyFile: unwrapKeyFile,
    openSealedKey: openSealedKey,
    openKeyring: openKeyring,
    decryptPart: decryptPart,
    encryptPart: encryptPart,
    newPartId: newPartId,
    sanitiseFilename: sanitiseFilename
  };
});
