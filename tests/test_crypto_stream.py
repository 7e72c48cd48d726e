"""The part format: streamed, padded, authenticated encryption of messages and attachments."""

from __future__ import annotations

import io
import os
import tracemalloc

import nacl.bindings as sodium
import pytest
from nacl.public import PublicKey, SealedBox

from parrhesia.crypto import (
    CHUNK_CAPACITY,
    CHUNK_SIZE,
    CIPHERTEXT_CHUNK_SIZE,
    HEADER_SIZE,
    CryptoFormatError,
    DecryptionError,
    PartReader,
    PartWriter,
    associated_data,
    ciphertext_size,
    decrypt_bytes,
    decrypt_part_to_path,
    encrypt_bytes,
    new_report_keypair,
    padded_chunk_count,
    padme,
)

REPORT_SK = new_report_keypair()
REPORT_PK = bytes(REPORT_SK.public_key)
META = {"kind": "attachment", "filename": "evidence.pdf", "content_type": "application/pdf"}


def seal(content: bytes, meta=META, report_id: str = "r-1", part_id: str = "p-1") -> bytes:
    return encrypt_bytes(content, REPORT_PK, report_id, part_id, meta)


def open_(blob: bytes, report_id: str = "r-1", part_id: str = "p-1"):
    return decrypt_bytes(blob, REPORT_SK, report_id, part_id)


def three_chunk_blob() -> bytes:
    blob = seal(os.urandom(150_000))
    assert len(blob) == HEADER_SIZE + 3 * CIPHERTEXT_CHUNK_SIZE
    return blob


# --- round trips -----------------------------------------------------------


@pytest.mark.parametrize(
    "size", [0, 1, 1000, CHUNK_CAPACITY - 100, CHUNK_CAPACITY, CHUNK_SIZE, 3 * CHUNK_SIZE + 7]
)
def test_content_and_metadata_round_trip(size):
    content = os.urandom(size)
    meta, plain = open_(seal(content))
    assert plain == content
    assert meta == META


@pytest.mark.parametrize("used_in_first_chunk", [-1, 0, 1])
def test_content_ending_exactly_at_a_chunk_boundary_round_trips(used_in_first_chunk):
    meta_bytes = len(b'{"kind":"message"}')
    content = os.urandom(CHUNK_CAPACITY - 4 - meta_bytes + used_in_first_chunk)
    assert open_(seal(content, {"kind": "message"}))[1] == content


def test_content_written_in_odd_pieces_round_trips():
    content = os.urandom(300_001)
    out = io.BytesIO()
    writer = PartWriter(out, REPORT_PK, "r-1", "p-1", META)
    for start in range(0, len(content), 7919):
        writer.write(content[start : start + 7919])
    writer.write(b"")
    assert writer.plaintext_size == len(content)
    assert writer.close() == len(out.getvalue())
    assert open_(out.getvalue())[1] == content


def test_writer_accepts_bytearray_and_memoryview():
    out = io.BytesIO()
    writer = PartWriter(out, REPORT_PK, "r-1", "p-1", {})
    writer.write(bytearray(b"abc"))
    writer.write(memoryview(b"def"))
    writer.close()
    assert open_(out.getvalue()) == ({}, b"abcdef")


def test_writer_refuses_writes_after_close_and_close_is_idempotent():
    out = io.BytesIO()
    writer = PartWriter(out, REPORT_PK, "r-1", "p-1", {})
    size = writer.close()
    assert writer.close() == size == len(out.getvalue())
    with pytest.raises(ValueError):
        writer.write(b"late")


def test_writer_does_not_close_the_output():
    out = io.BytesIO()
    PartWriter(out, REPORT_PK, "r-1", "p-1", {}).close()
    assert not out.closed


def test_metadata_is_readable_before_the_content():
    reader = PartReader(io.BytesIO(seal(os.urandom(200_000))), REPORT_SK, "r-1", "p-1")
    assert reader.meta == META


def test_reader_can_be_iterated_only_once():
    reader = PartReader(io.BytesIO(seal(b"x")), REPORT_SK, "r-1", "p-1")
    assert b"".join(reader) == b"x"
    with pytest.raises(RuntimeError):
        iter(reader)


def test_metadata_too_large_for_the_first_chunk_is_refused():
    with pytest.raises(ValueError, match="too large"):
        seal(b"", {"note": "x" * CHUNK_SIZE})


def test_ids_containing_nul_are_refused():
    with pytest.raises(ValueError):
        associated_data("r\x00", "p")


# --- tampering, truncation, misplaced blobs --------------------------------


def tamper_positions(length: int) -> list[int]:
    chunk_edges = [
        HEADER_SIZE + k * CIPHERTEXT_CHUNK_SIZE + d
        for k in range((length - HEADER_SIZE) // CIPHERTEXT_CHUNK_SIZE)
        for d in (0, 1, CIPHERTEXT_CHUNK_SIZE - 17, CIPHERTEXT_CHUNK_SIZE - 1)
    ]
    return sorted(set(range(9, HEADER_SIZE + 1)) | set(chunk_edges) | set(range(9, length, 4093)))


def test_a_changed_byte_anywhere_after_the_preamble_is_a_decryption_error():
    blob = three_chunk_blob()
    for position in tamper_positions(len(blob)):
        damaged = bytearray(blob)
        damaged[position] ^= 0x01
        with pytest.raises(DecryptionError):
            open_(bytes(damaged))


@pytest.mark.parametrize("position", range(9))
def test_a_changed_byte_in_the_preamble_is_a_format_error(position):
    damaged = bytearray(seal(b"hello"))
    damaged[position] ^= 0x01
    with pytest.raises(CryptoFormatError):
        open_(bytes(damaged))


def test_tampering_message_is_human():
    damaged = bytearray(seal(b"hello"))
    damaged[-1] ^= 0x01
    with pytest.raises(DecryptionError, match="damaged or was tampered with"):
        open_(bytes(damaged))


def test_unknown_format_version_is_named_in_the_error():
    damaged = bytearray(seal(b"hello"))
    damaged[4] = 2
    with pytest.raises(CryptoFormatError, match="version 2"):
        open_(bytes(damaged))


def test_data_that_is_not_a_part_is_a_format_error():
    with pytest.raises(CryptoFormatError, match="not a Parrhesia part"):
        open_(b"%PDF-1.7 this is plaintext" + bytes(200))


def truncation_points() -> list[int]:
    return [
        0,
        3,
        HEADER_SIZE - 1,
        HEADER_SIZE,
        HEADER_SIZE + 1,
        HEADER_SIZE + CIPHERTEXT_CHUNK_SIZE,  # exactly at a chunk boundary
        HEADER_SIZE + CIPHERTEXT_CHUNK_SIZE + 5000,
        HEADER_SIZE + 2 * CIPHERTEXT_CHUNK_SIZE,  # boundary right before FINAL
        HEADER_SIZE + 3 * CIPHERTEXT_CHUNK_SIZE - 1,
    ]


@pytest.mark.parametrize("cut", truncation_points())
def test_truncated_part_is_a_decryption_error(cut):
    blob = three_chunk_blob()
    with pytest.raises(DecryptionError, match="truncated"):
        open_(blob[:cut])


@pytest.mark.parametrize("cut", truncation_points())
def test_truncated_part_leaves_no_file_behind(tmp_path, cut):
    blob = three_chunk_blob()
    with pytest.raises(DecryptionError):
        decrypt_part_to_path(io.BytesIO(blob[:cut]), tmp_path, REPORT_SK, "r-1", "p-1")
    assert list(tmp_path.iterdir()) == []


def test_data_after_the_final_chunk_is_refused(tmp_path):
    blob = seal(b"hello") + b"\x00"
    with pytest.raises(DecryptionError, match="after the part's final chunk"):
        open_(blob)
    with pytest.raises(DecryptionError):
        decrypt_part_to_path(io.BytesIO(blob), tmp_path, REPORT_SK, "r-1", "p-1")
    assert list(tmp_path.iterdir()) == []


def test_chunks_cannot_be_reordered():
    blob = three_chunk_blob()
    c = CIPHERTEXT_CHUNK_SIZE
    first, second = blob[HEADER_SIZE : HEADER_SIZE + c], blob[HEADER_SIZE + c : HEADER_SIZE + 2 * c]
    swapped = blob[:HEADER_SIZE] + second + first + blob[HEADER_SIZE + 2 * c :]
    with pytest.raises(DecryptionError):
        open_(swapped)


@pytest.mark.parametrize(("report_id", "part_id"), [("r-2", "p-1"), ("r-1", "p-2"), ("r-1p", "-1")])
def test_part_moved_to_another_report_or_part_fails(report_id, part_id):
    with pytest.raises(DecryptionError):
        open_(seal(b"hello"), report_id, part_id)


def test_part_does_not_open_with_another_report_key():
    with pytest.raises(DecryptionError, match="report key"):
        decrypt_bytes(seal(b"hello"), new_report_keypair(), "r-1", "p-1")


# --- rules inside authenticated data (only a content-key holder could break them) ---


def forge(chunks: list[tuple[bytes, int]], report_id: str = "r-1", part_id: str = "p-1") -> bytes:
    key = sodium.crypto_secretstream_xchacha20poly1305_keygen()
    state = sodium.crypto_secretstream_xchacha20poly1305_state()
    header = sodium.crypto_secretstream_xchacha20poly1305_init_push(state, key)
    ad = associated_data(report_id, part_id)
    blob = b"PRHP\x01" + CHUNK_SIZE.to_bytes(4, "big") + SealedBox(PublicKey(REPORT_PK)).encrypt(key)
    blob += header
    for plaintext, tag in chunks:
        blob += sodium.crypto_secretstream_xchacha20poly1305_push(state, plaintext, ad, tag)
    return blob


def chunk(payload: bytes, *, fill: bytes = b"\x00") -> bytes:
    return len(payload).to_bytes(4, "big") + payload + fill * (CHUNK_CAPACITY - len(payload))


MESSAGE = sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
FINAL = sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL
EMPTY_META = b"\x00\x00\x00\x02{}"


def test_forged_canonical_part_is_accepted():
    # Guards the forge helper itself, so the refusals below mean something.
    assert open_(forge([(chunk(EMPTY_META + b"hi"), FINAL)])) == ({}, b"hi")


@pytest.mark.parametrize(
    "chunks",
    [
        [(chunk(EMPTY_META + b"hi", fill=b"\x01"), FINAL)],  # non-zero padding
        [(chunk(EMPTY_META), MESSAGE), (chunk(b"late"), FINAL)],  # content after padding
        [(chunk(EMPTY_META), MESSAGE), (chunk(b""), FINAL)],  # more chunks than Padmé says
        [(b"\x00\x01\x00\x00" + bytes(CHUNK_CAPACITY), FINAL)],  # used > capacity
        [(chunk(b"\x00\x00\x00\x09{}"), FINAL)],  # metadata longer than the chunk holds
        [(chunk(b"\x00\x00\x00\x02[]"), FINAL)],  # metadata is not an object
        [(chunk(EMPTY_META + b"hi")[:-1], FINAL)],  # chunk of the wrong size
        [(chunk(EMPTY_META), sodium.crypto_secretstream_xchacha20poly1305_TAG_REKEY)],
    ],
)
def test_non_canonical_parts_are_refused(chunks):
    with pytest.raises(CryptoFormatError):
        open_(forge(chunks))


# --- padding -----------------------------------------------------------------


def test_padme_matches_the_published_examples():
    assert [padme(n) for n in (0, 1, 2, 3, 9, 100, 1000)] == [0, 1, 2, 3, 10, 104, 1024]
    for n in range(1, 5000):
        assert n <= padme(n) <= n * 1.13


def test_sizes_in_the_same_padme_bucket_give_identical_ciphertext_sizes():
    sizes = [1_000_000, 1_003_333, 1_010_000]
    assert len({padme(s + 50) for s in sizes}) == 1
    lengths = {len(seal(os.urandom(s))) for s in sizes}
    assert len(lengths) == 1


def test_small_messages_are_all_one_chunk():
    assert {len(seal(os.urandom(n))) for n in (0, 1, 500, 30_000)} == {
        HEADER_SIZE + CIPHERTEXT_CHUNK_SIZE
    }


@pytest.mark.parametrize("size", [0, 10, 65_000, 70_000, 140_000, 400_000])
def test_ciphertext_is_header_plus_whole_chunks_as_predicted(size):
    blob = seal(os.urandom(size), {})
    assert (len(blob) - HEADER_SIZE) % CIPHERTEXT_CHUNK_SIZE == 0
    assert len(blob) == ciphertext_size(4 + 2 + size)


def test_chunk_count_is_the_padme_count_and_at_least_one():
    assert padded_chunk_count(0) == 1
    assert padded_chunk_count(60_000) == 1
    # Padmé may round a nearly full chunk up into a second one: 65528 -> 65536.
    assert padded_chunk_count(CHUNK_CAPACITY - 4) == 2
    assert padded_chunk_count(200_000) == -(-padme(200_000) // CHUNK_CAPACITY)


# --- streaming memory ----------------------------------------------------------


class CountingSink:
    def __init__(self) -> None:
        self.size = 0

    def write(self, data: bytes) -> int:
        self.size += len(data)
        return len(data)


def test_writer_memory_does_not_grow_with_part_size():
    piece = os.urandom(1 << 20)
    sink = CountingSink()
    tracemalloc.start()
    try:
        writer = PartWriter(sink, REPORT_PK, "r-1", "p-1", META)  # type: ignore[arg-type]
        for _ in range(64):
            writer.write(piece)
        writer.close()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert sink.size > 64 << 20
    assert peak < 3 << 20, f"peak {peak} bytes"


# --- decrypting to a file --------------------------------------------------------


def test_decrypt_to_path_uses_the_sanitised_filename(tmp_path):
    content = os.urandom(100_000)
    blob = seal(content, {"kind": "attachment", "filename": "../../etc/passwd"})
    path = decrypt_part_to_path(io.BytesIO(blob), tmp_path, REPORT_SK, "r-1", "p-1")
    assert path == tmp_path / "passwd"
    assert path.read_bytes() == content
    assert sorted(tmp_path.iterdir()) == [path]


def test_decrypt_to_path_never_overwrites_an_existing_file(tmp_path):
    (tmp_path / "evidence.pdf").write_bytes(b"keep me")
    blob = seal(b"new")
    first = decrypt_part_to_path(io.BytesIO(blob), tmp_path, REPORT_SK, "r-1", "p-1")
    second = decrypt_part_to_path(io.BytesIO(blob), tmp_path, REPORT_SK, "r-1", "p-1")
    assert (tmp_path / "evidence.pdf").read_bytes() == b"keep me"
    assert first.name == "evidence (2).pdf" and second.name == "evidence (3).pdf"
    assert first.read_bytes() == second.read_bytes() == b"new"


def test_decrypt_to_path_falls_back_to_the_part_id(tmp_path):
    blob = seal(b"body", {"kind": "message"}, part_id="msg-7")
    path = decrypt_part_to_path(io.BytesIO(blob), tmp_path, REPORT_SK, "r-1", "msg-7")
    assert path.name == "msg-7"


def test_decrypt_to_path_accepts_an_explicit_name_and_reports_progress(tmp_path):
    seen: list[int] = []
    content = os.urandom(200_000)
    path = decrypt_part_to_path(
        io.BytesIO(seal(content)), tmp_path, REPORT_SK, "r-1", "p-1",
        filename="chosen.bin", progress=seen.append,
    )
    assert path.name == "chosen.bin"
    assert seen == sorted(seen) and seen[-1] == len(content)


def test_decrypt_to_path_removes_its_temporary_file_if_the_caller_aborts(tmp_path):
    def abort(done: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        decrypt_part_to_path(
            io.BytesIO(seal(os.urandom(200_000))), tmp_path, REPORT_SK, "r-1", "p-1",
            progress=abort,
        )
    assert list(tmp_path.iterdir()) == []


def test_decrypted_file_is_private_to_the_user(tmp_path):
    path = decrypt_part_to_path(io.BytesIO(seal(b"x")), tmp_path, REPORT_SK, "r-1", "p-1")
    assert path.stat().st_mode & 0o077 == 0
