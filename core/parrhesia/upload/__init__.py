"""Receiving a submission: multipart parsing that encrypts as it parses.

Werkzeug's form parser spools large files to plaintext temporary files. Submission
routes instead read the raw request body in large blocks and run it through
:class:`MultipartParser`, a small streaming parser that hands each file (and the
message text) to a :class:`~parrhesia.crypto.PartWriter` writing into a pending blob.
Part contents are passed on as views of the blocks read, without copying. Encryption
runs on a second thread and file writes on a third, each fed through a bounded queue
(libsodium and file writes release the GIL), so reading, encrypting and writing
overlap on separate cores; under gunicorn the body is read straight from the
connection, and the parser's large searches let go of the GIL too. Memory stays at a
few blocks whatever the upload size; plaintext exists only in memory; the size limit
is enforced on bytes as they arrive.

The CSRF token must arrive before any message or file (browsers send fields in page
order and the forms put it first), so a forged request is refused before its content
is read. On any error the encrypting thread is stopped and every pending blob is
discarded: nothing is stored.

One idea per module: :mod:`~parrhesia.upload.body` reads the body from the server,
:mod:`~parrhesia.upload.multipart` parses it, :mod:`~parrhesia.upload.memmem` searches
large blocks without holding the GIL, :mod:`~parrhesia.upload.pipeline` runs the
encrypting and writing threads, and :mod:`~parrhesia.upload.receiver` seals the parts.
"""

from __future__ import annotations

from parrhesia.upload.bounds import DiskFull, UploadBounds, UploadsBusy
from parrhesia.upload.multipart import MultipartError, MultipartParser, PartData, PartStart, TooManyParts
from parrhesia.upload.receiver import (
    EncryptedPart,
    Submission,
    SubmissionRejected,
    SubmissionTooLarge,
    SubmissionTooSlow,
    receive_submission,
)

__all__ = [
    "DiskFull",
    "EncryptedPart",
    "MultipartError",
    "MultipartParser",
    "PartData",
    "PartStart",
    "Submission",
    "SubmissionRejected",
    "SubmissionTooLarge",
    "SubmissionTooSlow",
    "UploadBounds",
    "UploadsBusy",
    "TooManyParts",
    "receive_submission",
]
