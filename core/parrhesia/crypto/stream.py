"""The part format: how every message, attachment and reply is encrypted.

A part is sealed to its report's public key with a fresh content key and
encrypted with libsodium's secretstream in fixed-size chunks, so it can be
written and read with constant memory whatever its size. Chunks are padded and
the chunk count rounded up with Padmé, so the ciphertext size reveals only a
coarse bucket of the plaintext size. Associated data binds every chunk to its
report and part id. The byte layout is specified in docs/format.md.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path
from typing import Protocol

import nacl.bindings as sodium
import nacl.exceptions
from nacl.public import PrivateKey, PublicKey, SealedBox

from parrhesia.private_files import open_private

from .errors import CryptoFormatError, DecryptionError
from .filenames import sanitise_filename

__all__ = [
    "read_exactly",
    "ABYTES",
    "ByteSink",
    "ByteSource",
    "CHUNK_CAPACITY",
    "CHUNK_SIZE",
    "CIPHERTEXT_CHUNK_SIZE",
    "FORMAT_VERSION",
    "HEADER_SIZE",
    "MAGIC",
    "MAX_META_SIZE",
    "PartReader",
    "PartWriter",
    "associated_data",
    "ciphertext_size",
    "decrypt_bytes",
    "decrypt_part_to_path",
    "encrypt_bytes",
    "padded_chunk_count",
    "padme",
]

MAGIC = b"PRHP"
FORMAT_VERSION = 1
CHUNK_SIZE = 65536  # plaintext bytes per chunk, fixed by format v1
ABYTES: int = sodium.crypto_secretstream_xchacha20poly1305_ABYTES  # 17
CIPHERTEXT_CHUNK_SIZE = CHUNK_SIZE + ABYTES
CHUNK_CAPACITY = CHUNK_SIZE - 4  # payload bytes per chunk after the `used` count
MAX_META_SIZE = CHUNK_CAPACITY - 4  # the metadata JSON must fit in the first chunk
_SEALED_KEY_SIZE = 32 + 48  # SealedBox of a 32-byte key
_STREAM_HEADER_SIZE: int = sodium.crypto_secretstream_xchacha20poly1305_HEADERBYTES  # 24
_PREAMBLE = MAGIC + bytes([FORMAT_VERSION]) + CHUNK_SIZE.to_bytes(4, "big")
HEADER_SIZE = len(_PREAMBLE) + _SEALED_KEY_SIZE + _STREAM_HEADER_SIZE  # 113
_AD_PREFIX = b"parrhesia/part/v1\x00"
_TAG_MESSAGE: int = sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
_TAG_FINAL: int = sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL
_ZERO_CHUNK = bytes(CHUNK_SIZE)
_FULL_USED = CHUNK_CAPACITY.to_bytes(4, "big")  # `used` of a chunk that is not the last



class ByteSource(Protocol):
    """What a reader needs of its input: ``read(size)``, which may return fewer bytes."""

    def read(self, size: int = -1, /) -> bytes: ...


class ByteSink(Protocol):
    """What a writer needs of its output: ``write(data)``."""

    def write(self, data: bytes, /) -> object: ...


_TRUNCATED = "the data ends before its final chunk: it is truncated"
_DAMAGED = (
    "the attachment is damaged or was tampered with "
    "(or it belongs to another report or part)"
)


def padme(n: int) -> int:
    """Round a length up with Padmé, leaking O(log log n) bits about it.

    L < 2 → L; E = floor(log2 L); S = floor(log2 E) + 1; keep the top S bits
    of the exponent's mantissa and round the rest up.
    """
    if n < 0:
        raise ValueError("a length cannot be negative")
    if n < 2:
        return n
    e = n.bit_length() - 1
    s = e.bit_length()
    mask = (1 << (e - s)) - 1
    return (n + mask) & ~mask


def padded_chunk_count(payload_size: int) -> int:
    """Return how many chunks a part with this many payload bytes has (at least 1)."""
    return max(1, -(-padme(payload_size) // CHUNK_CAPACITY))


def ciphertext_size(payload_size: int) -> int:
    """Return the blob size, in bytes, of a part carrying ``payload_size`` payload bytes.

    The payload is the 4-byte metadata length, the metadata JSON and the content.
    """
    return HEADER_SIZE + padded_chunk_count(payload_size) * CIPHERTEXT_CHUNK_SIZE


def associated_data(report_id: str, part_id: str) -> bytes:
    """Return the associated data that binds every chunk to its report and part."""
    for label, value in (("report_id", report_id), ("part_id", part_id)):
        if not isinstance(value, str) or not value or "\x00" in value:
            raise ValueError(f"{label} must be a non-empty string without NUL characters")
    return _AD_PREFIX + report_id.encode("utf-8") + b"\x00" + part_id.encode("utf-8")


class PartWriter:
    """Encrypt one part as it is written, holding at most one chunk in memory.

    Write the content with :meth:`write`, then call :meth:`close`, which pads
    and writes the final chunk. A part whose writer is never closed has no
    final chunk and will be refused by every reader as truncated.
    """

    def __init__(
        self,
        out: ByteSink,
        report_public_key: bytes,
        report_id: str,
        part_id: str,
        meta: dict[str, object],
    ) -> None:
        self._out = out
        self._ad = associated_data(report_id, part_id)
        meta_json = _encode_meta(meta)
        content_key = sodium.crypto_secretstream_xchacha20poly1305_keygen()
        sealed_key = SealedBox(PublicKey(bytes(report_public_key))).encrypt(content_key)
        self._state = sodium.crypto_secretstream_xchacha20poly1305_state()
        stream_header = sodium.crypto_secretstream_xchacha20poly1305_init_push(
            self._state, content_key
        )
        del content_key  # only the secretstream state needs it from here on
        out.write(_PREAMBLE + bytes(sealed_key) + stream_header)
        self._written = HEADER_SIZE
        self._chunk = bytearray(CHUNK_SIZE)  # bytes 0-3 hold `used`, filled on emit
        self._fill = 4
        self._chunks = 0
        self._payload_size = 0
        self._plaintext_size = 0
        self._closed = False
        self._feed(memoryview(len(meta_json).to_bytes(4, "big") + meta_json))

    @property
    def plaintext_size(self) -> int:
        """Content bytes written so far (excluding metadata and padding)."""
        return self._plaintext_size

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Encrypt more content; full chunks go to ``out`` as soon as they are known not to be last."""
        if self._closed:
            raise ValueError("this part is already closed")
        view = memoryview(data).cast("B")
        self._plaintext_size += len(view)
        self._feed(view)

    def close(self) -> int:
        """Pad, write the final chunk and return the total ciphertext size. ``out`` stays open."""
        if self._closed:
            return self._written
        self._closed = True
        total = padded_chunk_count(self._payload_size)
        padding = total - self._chunks - 1
        used = self._fill - 4
        self._chunk[self._fill :] = _ZERO_CHUNK[self._fill :]
        self._emit(used, _TAG_FINAL if padding == 0 else _TAG_MESSAGE)
        for remaining in range(padding - 1, -1, -1):
            self._push(_ZERO_CHUNK, _TAG_FINAL if remaining == 0 else _TAG_MESSAGE)
        if self._chunks != total:  # pragma: no cover - internal invariant
            raise RuntimeError("internal error: wrong number of chunks written")
        del self._state
        return self._written

    def _feed(self, view: memoryview) -> None:
        chunk, pos, size = self._chunk, 0, len(view)
        self._payload_size += size
        while pos < size:
            if self._fill == CHUNK_SIZE:  # full, and more follows: not the last chunk
                self._emit(CHUNK_CAPACITY, _TAG_MESSAGE)
            if self._fill == 4 and size - pos > CHUNK_CAPACITY:
                # A whole chunk's payload is at hand and more follows: frame it straight
                # from the caller's buffer, with one copy instead of two.
                self._push(_FULL_USED + view[pos : pos + CHUNK_CAPACITY], _TAG_MESSAGE)
                pos += CHUNK_CAPACITY
                continue
            take = min(CHUNK_SIZE - self._fill, size - pos)
            chunk[self._fill : self._fill + take] = view[pos : pos + take]
            self._fill += take
            pos += take

    def _emit(self, used: int, tag: int) -> None:
        self._chunk[0:4] = used.to_bytes(4, "big")
        self._push(bytes(self._chunk), tag)
        self._fill = 4

    def _push(self, plaintext: bytes, tag: int) -> None:
        ciphertext = sodium.crypto_secretstream_xchacha20poly1305_push(
            self._state, plaintext, self._ad, tag
        )
        self._out.write(ciphertext)
        self._written += len(ciphertext)
        self._chunks += 1


class PartReader:
    """Decrypt one part as it is read, holding at most one chunk in memory.

    :attr:`meta` is available right after construction. Iterating yields the
    content in pieces. Each piece is authenticated, but only an iteration that
    ends without error proves the part is complete: do not act on the content
    before that (see :func:`decrypt_part_to_path`).
    """

    def __init__(
        self,
        source: ByteSource,
        report_private_key: PrivateKey,
        report_id: str,
        part_id: str,
    ) -> None:
        self._source = source
        self._ad = associated_data(report_id, part_id)
        header = read_exactly(source, HEADER_SIZE)
        _check_preamble(header)
        if len(header) < HEADER_SIZE:
            raise DecryptionError(_TRUNCATED)
        sealed_key = header[len(_PREAMBLE) : len(_PREAMBLE) + _SEALED_KEY_SIZE]
        try:
            content_key = SealedBox(report_private_key).decrypt(sealed_key)
        except nacl.exceptions.CryptoError as exc:
            raise DecryptionError(
                "this part cannot be opened with this report key: "
                "it belongs to another report, or it is damaged"
            ) from exc
        self._state = sodium.crypto_secretstream_xchacha20poly1305_state()
        sodium.crypto_secretstream_xchacha20poly1305_init_pull(
            self._state, header[-_STREAM_HEADER_SIZE:], content_key
        )
        del content_key
        self._chunks = 0
        self._payload_size = 0
        self._padding_started = False
        self._finished = False
        self._iterated = False
        first = self._next_payload()
        if first is None or len(first) < 4:
            raise CryptoFormatError("the part's first chunk has no metadata")
        meta_len = int.from_bytes(first[:4], "big")
        if 4 + meta_len > len(first):
            raise CryptoFormatError("the part's metadata does not fit in its first chunk")
        self.meta: dict[str, object] = _decode_meta(first[4 : 4 + meta_len])
        self._pending = first[4 + meta_len :]

    def __iter__(self) -> Iterator[bytes]:
        if self._iterated:
            raise RuntimeError("a PartReader can be iterated only once")
        self._iterated = True
        return self._content()

    def _content(self) -> Iterator[bytes]:
        pending, self._pending = self._pending, b""
        if pending:
            yield pending
        while (payload := self._next_payload()) is not None:
            if payload:
                yield payload

    def _next_payload(self) -> bytes | None:
        """Return the payload of the next chunk, or None after the final chunk."""
        if self._finished:
            return None
        ciphertext = read_exactly(self._source, CIPHERTEXT_CHUNK_SIZE)
        if len(ciphertext) < CIPHERTEXT_CHUNK_SIZE:
            raise DecryptionError(_TRUNCATED)
        try:
            plaintext, tag = sodium.crypto_secretstream_xchacha20poly1305_pull(
                self._state, ciphertext, self._ad
            )
        except nacl.exceptions.CryptoError as exc:
            raise DecryptionError(_DAMAGED) from exc
        if tag not in (_TAG_MESSAGE, _TAG_FINAL) or len(plaintext) != CHUNK_SIZE:
            raise CryptoFormatError("the part contains a chunk this version does not allow")
        used = int.from_bytes(plaintext[:4], "big")
        if used > CHUNK_CAPACITY:
            raise CryptoFormatError("a chunk of the part claims more bytes than it can hold")
        if used and self._padding_started:
            raise CryptoFormatError("the part has content after its padding began")
        if used < CHUNK_CAPACITY:
            self._padding_started = True
            if plaintext.count(0, 4 + used) != CHUNK_CAPACITY - used:
                raise CryptoFormatError("the part's padding is not all zero")
        self._chunks += 1
        self._payload_size += used
        if tag == _TAG_FINAL:
            self._finished = True
            if self._source.read(1):
                raise DecryptionError("there is extra data after the part's final chunk")
            if self._chunks != padded_chunk_count(self._payload_size):
                raise CryptoFormatError("the part is not padded as format version 1 requires")
        return plaintext[4 : 4 + used]


def decrypt_part_to_path(
    source: ByteSource,
    dest_dir: Path,
    report_private_key: PrivateKey,
    report_id: str,
    part_id: str,
    *,
    filename: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Decrypt a part into ``dest_dir`` and return the path of the new file.

    The plaintext goes to a private temporary file that is fsynced and given
    its final name only after the final chunk has been verified; on any error
    it is deleted, so a damaged or truncated part never leaves a partial
    file. The name is ``filename`` or the part's ``meta["filename"]``,
    sanitised (falling back to the part id); an existing file is never
    overwritten: `` (2)``, `` (3)``... are added. ``progress`` is called with
    the number of content bytes written so far.
    """
    dest_dir = Path(dest_dir)
    reader = PartReader(source, report_private_key, report_id, part_id)
    wanted = filename if filename is not None else reader.meta.get("filename")
    name = sanitise_filename(wanted, fallback=part_id)
    fd, temp_name = tempfile.mkstemp(dir=dest_dir, prefix=".parrhesia-", suffix=".incomplete")
    temp_path = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            done = 0
            for piece in reader:
                handle.write(piece)
                done += len(piece)
                if progress is not None:
                    progress(done)
            handle.flush()
            os.fsync(handle.fileno())
        final = _move_to_free_name(temp_path, dest_dir, name)
    except BaseException:
        with suppress(FileNotFoundError):
            temp_path.unlink()
        raise
    _fsync_directory(dest_dir)
    return final


def encrypt_bytes(
    data: bytes,
    report_public_key: bytes,
    report_id: str,
    part_id: str,
    meta: dict[str, object],
) -> bytes:
    """Encrypt a whole part held in memory and return its blob."""
    out = io.BytesIO()
    writer = PartWriter(out, report_public_key, report_id, part_id, meta)
    writer.write(data)
    writer.close()
    return out.getvalue()


def decrypt_bytes(
    blob: bytes,
    report_private_key: PrivateKey,
    report_id: str,
    part_id: str,
) -> tuple[dict[str, object], bytes]:
    """Decrypt a whole part held in memory; return its metadata and content."""
    reader = PartReader(io.BytesIO(blob), report_private_key, report_id, part_id)
    content = b"".join(reader)
    return reader.meta, content


def _encode_meta(meta: dict[str, object]) -> bytes:
    if not isinstance(meta, dict):
        raise TypeError("part metadata must be a dict")
    encoded = json.dumps(
        meta, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
    ).encode("utf-8")
    if len(encoded) > MAX_META_SIZE:
        raise ValueError(f"part metadata is too large ({len(encoded)} > {MAX_META_SIZE} bytes)")
    return encoded


def _decode_meta(raw: bytes) -> dict[str, object]:
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise CryptoFormatError("the part's metadata is not valid UTF-8 JSON") from exc
    if not isinstance(meta, dict):
        raise CryptoFormatError("the part's metadata is not a JSON object")
    return meta


def _check_preamble(header: bytes) -> None:
    """Refuse data that is not a v1 part, judging only the bytes that are present."""
    magic = header[: len(MAGIC)]
    if magic != MAGIC[: len(magic)]:
        raise CryptoFormatError("this is not a Parrhesia part (wrong magic bytes)")
    if len(header) > 4 and header[4] != FORMAT_VERSION:
        raise CryptoFormatError(
            f"unsupported part format version {header[4]}; this software reads version 1"
        )
    size_field = header[5:9]
    if len(size_field) == 4 and size_field != _PREAMBLE[5:9]:
        raise CryptoFormatError("unsupported chunk size for part format version 1")


def read_exactly(source: ByteSource, size: int) -> bytes:
    """Read ``size`` bytes, fewer only at end of data (streams may return short reads)."""
    data = source.read(size)
    if len(data) == size or not data:
        return bytes(data)
    parts = [data]
    missing = size - len(data)
    while missing:
        more = source.read(missing)
        if not more:
            break
        parts.append(more)
        missing -= len(more)
    return b"".join(parts)


def _move_to_free_name(temp_path: Path, dest_dir: Path, name: str) -> Path:
    """Give the finished file ``name``, or ``name (2)`` etc., never replacing a file."""
    stem, dot, suffix = name.rpartition(".")
    if not stem:
        stem, dot, suffix = name, "", ""
    for number in range(1, 10_000):
        candidate = name if number == 1 else f"{stem} ({number}){dot}{suffix}"
        target = dest_dir / candidate
        try:
            os.link(temp_path, target)  # atomic, and fails if the name is taken
        except FileExistsError:
            continue
        except OSError:  # no hard links (e.g. FAT on a USB stick): reserve, then replace
            try:
                open_private(target).close()
            except FileExistsError:
                continue
            os.replace(temp_path, target)
            return target
        temp_path.unlink()
        return target
    raise FileExistsError(f"no free file name for {name!r} in {dest_dir}")


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable where the platform allows syncing a directory."""
    with suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
