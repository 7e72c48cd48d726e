"""The OpenAPI 3.1 description of the recipients' API (``GET /api/v1/openapi.json``).

The document describes the API only, never the instance: no body, recipient, report
or setting appears in it, which is why it is served without a token (it says no more
than the source code does). Every other route requires the bearer token.
``tests/test_openapi.py`` checks that it lists exactly the routes the app serves.
"""

from __future__ import annotations

from typing import Any

from parrhesia import __version__
from parrhesia.domain.casework import STATUSES
from parrhesia.domain.protection_requests import STATUSES as PROTECTION_STATUSES

__all__ = ["document"]

_BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


_UNAUTHORISED = _error("No token, or a token that is not valid (or of a deactivated recipient).")
_NOT_FOUND = _error('No such report for your body (a report of another body is "not found", never "forbidden").')
_INVALID = _error("The request is malformed, or the action is refused; the message says why.")

_REPORT_ID = {
    "name": "report_id", "in": "path", "required": True,
    "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"}, "description": "The report id.",
}
_PART_ID = {
    "name": "part_id", "in": "path", "required": True,
    "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"}, "description": "The part id.",
}
_CLOCK_ID = {"name": "clock_id", "in": "path", "required": True, "schema": {"type": "string"},
             "description": "The clock's id."}
_BODY_ID = {"name": "body_id", "in": "path", "required": True, "schema": {"type": "string"}, "description": "A body id of the directory."}


def _action(summary: str, description: str, request: dict[str, Any] | None, ok: dict[str, Any], *,
            extra: dict[str, Any] | None = None) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "description": description,
        "parameters": [_REPORT_ID],
        "responses": {**ok, "400": _INVALID, "401": _UNAUTHORISED, "404": _NOT_FOUND, **(extra or {})},
    }
    if request is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": request}}}
    return operation


def _schemas() -> dict[str, Any]:
    base64_string = {"type": "string", "contentEncoding": "base64"}
    sealed_key = {
        **base64_string,
        "description": "A 32-byte private key sealed (libsodium sealed box) to a body key's public key, "
                       "base64-encoded (80 bytes before encoding).",
    }
    generation = {"type": "integer", "minimum": 1, "description": "The generation of the body key sealed to."}
    grant = {
        **base64_string,
        "description": "A body private key in an authenticated box (crypto_box) from you to the member, "
                       "base64-encoded (72 bytes before encoding), made on your machine.",
    }
    body_key = {
        "type": ["object", "null"],
        "description": "The body's current key (null: the body has no key yet, so nobody there can read).",
        "properties": {"generation": {"type": "integer"}, "public_key": {"type": "string"},
                       "fingerprint": {"type": "string"}},
    }
    return {
        "Error": {
            "type": "object",
            "required": ["error", "message"],
            "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
        },
        "Me": {
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "name": {"type": "string"},
                "role": {"type": "string", "enum": ["recipient", "body_admin"]},
                "body": {"type": "object", "properties": {"id": {"type": "string"}, "name": {"type": "string"}}},
                "public_key": {"type": "string", "description": "prh1pk_… encoded X25519 public key."},
            },
        },
        "BodyRecipients": {
            "type": "object",
            "properties": {
                "body": {"type": "object", "properties": {"id": {"type": "string"}, "name": {"type": "string"}}},
                "body_key": body_key,
                "recipients": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"id": {"type": "integer"}, "name": {"type": "string"}, "public_key": {"type": "string"},
                                       "holds_body_key": {"type": "boolean",
                                                          "description": "Holds a grant of the body's current key."}},
                    },
                },
            },
        },
        "Clock": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "label": {"type": "string"},
                "legal_source": {"type": "string"},
                "due_on": {"type": "string", "format": "date"},
                "body": {"type": ["string", "null"]},
                "state": {"type": "string", "enum": ["running", "met", "missed", "paused"]},
                "met_by": {"type": ["string", "null"], "description": '"acknowledge", "feedback" or null.'},
            },
        },
        "Part": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "kind": {"type": "string", "enum": ["message", "attachment", "answers", "reply", "note"]},
                "author": {"type": "string", "enum": ["source", "recipient"]},
                "size": {"type": "integer", "description": "Ciphertext size in bytes (padded)."},
                "created_on": {"type": "string", "format": "date"},
                "sealed_key": {
                    "type": ["string", "null"], "contentEncoding": "base64",
                    "description": "Notes only: the note's own private key sealed to your body's key (see "
                                   "GET /api/v1/keyring), so every present and future member reads it. Notes of "
                                   "other bodies are not listed.",
                },
                "generation": {"type": ["integer", "null"],
                               "description": "Notes only: the generation of the body key the note key is sealed to."},
            },
        },
        "Report": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "status": {"type": "string"},
                "created_on": {"type": "string", "format": "date"},
                "updated_on": {"type": "string", "format": "date"},
                "public_key": {"type": "string", "description": "The report public key (prh1pk_…)."},
                "sealed_key": {
                    "type": ["string", "null"], "contentEncoding": "base64",
                    "description": "The report private key sealed to your body's key of `generation` (open it "
                                   "with your grant from GET /api/v1/keyring), or null if your body cannot open it.",
                },
                "generation": {"type": ["integer", "null"],
                               "description": "The body key generation sealed to (null with a sealed key: sealed to "
                                              "your own key, format v1)."},
                "route": {"type": "array", "items": {"type": "string"}},
                "escalation": {"type": "array", "items": {"type": "string"}},
                "fallback_route": {"type": "boolean"},
                "intake": {"type": ["string", "null"], "enum": ["in-person", "telephone", None],
                           "description": "Taken for the person by a recipient (POST /api/v1/intake); null: online."},
                "intake_body": {"type": ["string", "null"], "description": "The body whose recipient took it."},
                "fields": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
                "clocks": {"type": "array", "items": _ref("Clock")},
                "parts": {"type": "array", "items": _ref("Part")},
            },
        },
        "ReportAudit": {
            "type": "object",
            "description": "What an evidence package records of a report besides its content.",
            "properties": {
                "report": {"type": "string"},
                "entries": {"type": "array", "items": _ref("AuditEntry"),
                            "description": "The report's audit entries in chain order (a protection request's only "
                                           "for the body handling it)."},
                "clock_history": {"type": "array", "items": _ref("AuditEntry"),
                                  "description": "Those of `entries` that changed a clock (acknowledgement, "
                                                 "feedback, pauses, extensions, escalations), in chain order."},
                "head": {"type": ["object", "null"], "description": "The newest entry of the whole chain.",
                         "properties": {"seq": {"type": "integer"}, "hash": {"type": "string"}}},
                "vouched": {"type": ["object", "null"],
                            "description": "The instance's Ed25519 signature (base64) with its receipt key over "
                                           "`statement`, which names the instance key, the report, the digest of "
                                           "these entries and the head (docs/format.md, Evidence packages).",
                            "properties": {"statement": {"type": "string"}, "signature": {"type": "string"},
                                           "instance_key": {"type": "string"}}},
                "bodies": {"type": "array", "items": {"type": "object", "properties": {
                    "body": {"type": "string"}, "role": {"type": "string"}, "reason": {"type": ["string", "null"]},
                    "rank": {"type": ["integer", "null"]}}}},
                "escalations": {"type": "array", "items": {"type": "object", "properties": {
                    "body": {"type": ["string", "null"]}, "trigger": {"type": "string"},
                    "reason": {"type": ["string", "null"]}, "on": {"type": "string", "format": "date"}}}},
                "clocks": {"type": "array", "items": _ref("Clock")},
            },
        },
        "AuditAnchor": {
            "type": "object",
            "description": "The instance's Ed25519 signature (base64) with its receipt key over `statement`: six "
                           "lines naming the instance key, the entry asked about with its hash now (or `missing`), "
                           "the head, and whether the entries between them chain (docs/format.md §13).",
            "required": ["statement", "signature", "instance_key"],
            "properties": {"statement": {"type": "string"}, "signature": {"type": "string"},
                           "instance_key": {"type": "string"}},
        },
        "AuditEntry": {
            "type": "object",
            "description": "hash = SHA-256 (hex) of the compact JSON array [prev_hash, seq, at, actor, action, "
                           "report_id, body_id, detail] (docs/format.md, Evidence packages).",
            "properties": {
                "seq": {"type": "integer"}, "at": {"type": "string"}, "actor": {"type": "string"},
                "action": {"type": "string"}, "report_id": {"type": ["string", "null"]},
                "body_id": {"type": ["string", "null"]}, "detail": {"type": "string", "description": "JSON text."},
                "prev_hash": {"type": "string"}, "hash": {"type": "string"},
            },
        },
        "PartCreated": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "size": {"type": "integer"},
                "created_on": {"type": "string", "format": "date"},
                "feedback": {"type": "boolean"},
            },
        },
        "StatusRequest": {
            "type": "object",
            "required": ["status"],
            "properties": {"status": {"type": "string", "examples": list(STATUSES)}},
        },
        "NoteRequest": {
            "type": "object",
            "required": ["id", "ciphertext", "sealed_key", "generation"],
            "properties": {
                "id": {"type": "string", "pattern": "^[0-9a-f]{32}$", "description": "A new random part id."},
                "ciphertext": {
                    **base64_string,
                    "description": "The note in the Parrhesia part format (docs/format.md), encrypted to the "
                                   'note\'s own public key with associated data for this report and part id and '
                                   'metadata {"kind": "note"}; at most 1 MiB.',
                },
                "sealed_key": {**sealed_key, "description": "The note's private key sealed to your body's "
                                                             "current key (GET /api/v1/keyring), and to nothing else. "
                               + sealed_key["description"]},
                "generation": {**generation, "description": "The generation of your body's current key; a "
                                                            "stale one is refused (400)."},
            },
        },
        "TransferRequest": {
            "type": "object",
            "required": ["body", "reason"],
            "properties": {
                "body": {"type": "string", "description": "The id of the body that takes over the report."},
                "reason": {"type": "string", "minLength": 1},
                "sealed_key": {**sealed_key, "description": "The report private key sealed to the target body's "
                                                             "current key (body_key of GET /api/v1/bodies/{body_id}/"
                                                             "recipients); not needed when the target is on the "
                                                             "report's escalation chain. "
                               + sealed_key["description"]},
                "generation": {**generation, "description": "The generation of the target body's key sealed to "
                                                            "(required with sealed_key)."},
            },
        },
        "RecusalRequest": {
            "type": "object",
            "required": ["reason"],
            "properties": {
                "reason": {"type": "string", "minLength": 1},
                "outside_competence": {"type": "boolean", "default": False,
                                       "description": "The report is outside your body's remit, rather than a "
                                                      "conflict of interest."},
            },
        },
        "ExtensionRequest": {
            "type": "object",
            "required": ["months", "reason"],
            "properties": {
                "months": {"type": "integer", "minimum": 1,
                           "description": "The new length of the deadline in months from submission, at most "
                                          "what the clock's law allows."},
                "reason": {"type": "string", "minLength": 1},
            },
        },
        "RecusalResult": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "recused": {"type": "boolean"},
                "to": {"type": "array", "items": {"type": "string"}, "description": "Bodies that gained access."},
            },
        },
        "Keyring": {
            "type": "object",
            "properties": {
                "body": {"type": "string"},
                "keyring": {
                    "type": "array",
                    "description": "Every generation of your body's key, newest first.",
                    "items": {
                        "type": "object",
                        "properties": {
                            "generation": {"type": "integer"},
                            "public_key": {"type": "string", "description": "prh1pk_… body public key."},
                            "fingerprint": {"type": "string"},
                            "previous_sealed": {
                                "type": ["string", "null"], "contentEncoding": "base64",
                                "description": "The previous generation's private key sealed to this one.",
                            },
                            "grant": {
                                "type": ["object", "null"],
                                "description": "Your grant of this generation (null: nobody vouched for you for it).",
                                "properties": {
                                    "boxed": grant,
                                    "vouched_by": {"type": "object", "properties": {
                                        "id": {"type": "integer"}, "name": {"type": "string"},
                                        "public_key": {**base64_string,
                                                       "description": "The voucher's public key, to open the box."}}},
                                },
                            },
                        },
                    },
                },
            },
        },
        "BodyKeyRequest": {
            "type": "object",
            "required": ["public_key", "grant"],
            "properties": {
                "public_key": {"type": "string", "description": "The new body public key (prh1pk_…)."},
                "grant": {**grant, "description": "The body private key boxed from you to yourself. "
                                                  + grant["description"]},
            },
        },
        "BodyKeyCreated": {
            "type": "object",
            "properties": {"generation": {"type": "integer"}, "fingerprint": {"type": "string"}},
        },
        "RoutingAnswers": {
            "type": "object", "required": ["fields"],
            "properties": {"fields": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}},
                                      "description": "The person's routing answers, by routing field name."}},
        },
        "IntakeRoute": {
            "type": "object",
            "description": "The route a source's review page would show, and the keys to seal the report key to.",
            "properties": {
                "route": {"type": "array", "items": {"type": "object"}},
                "excluded": {"type": "array", "items": {"type": "object"}},
                "escalation": {"type": "array", "items": {"type": "object"}},
                "waiting": {"type": "array", "items": {"type": "object"}},
                "clocks": {"type": "array", "items": {"type": "object"}},
                "fields": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
                "day": {"type": "string", "format": "date"},
                "body_keys": {"type": "array", "items": {"type": "object", "properties": {
                    "body": {"type": "string"}, "generation": {"type": "integer"},
                    "public_key": {"type": "string"}, "fingerprint": {"type": "string"}}}},
                "your_body_receives": {"type": "boolean"},
                "instance": {"type": "object", "properties": {
                    "name": {"type": "string"}, "source_hosts": {"type": "array", "items": {"type": "string"}}}},
            },
        },
        "IntakeSource": {
            "type": "object",
            "properties": {"public_key": {"type": "string", "description": "The source's public key (prh1pk_…)."},
                           "lookup_id": {"type": "string", "contentEncoding": "base64"}},
        },
        "IntakeRequest": {
            "type": "object",
            "required": ["id", "channel", "fields", "public_key", "lookup_id", "source_sealed_key", "bodies",
                         "parts"],
            "properties": {
                "id": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
                "channel": {"type": "string", "enum": ["in-person", "telephone"]},
                "fields": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
                "public_key": {"type": "string", "description": "The report public key (prh1pk_…)."},
                "lookup_id": {"type": "string", "contentEncoding": "base64"},
                "source_sealed_key": {"type": "string", "contentEncoding": "base64"},
                "bodies": {"type": "array", "items": {"type": "object", "properties": {
                    "body": {"type": "string"}, "generation": {"type": "integer"},
                    "sealed_key": {"type": "string", "contentEncoding": "base64"}}}},
                "parts": {"type": "array", "items": {"type": "object", "properties": {
                    "id": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
                    "kind": {"type": "string", "enum": ["message", "attachment", "answers"]},
                    "ciphertext": {"type": "string", "contentEncoding": "base64"}}}},
                "name_officer": {"type": "boolean", "description": "The person agreed that the officer is named."},
            },
        },
        "IntakeResult": {
            "type": "object",
            "properties": {
                "id": {"type": "string"}, "created_on": {"type": "string", "format": "date"},
                "intake": {"type": "string"}, "intake_body": {"type": "string"},
                "route": {"type": "array", "items": {"type": "string"}},
                "escalation": {"type": "array", "items": {"type": "string"}},
                "excluded": {"type": "array", "items": {"type": "string"}},
                "your_body_receives": {"type": "boolean"},
            },
        },
        "VouchRequest": {
            "type": "object",
            "required": ["recipient", "generation", "grant"],
            "properties": {
                "recipient": {"type": "integer", "description": "The colleague's recipient id."},
                "generation": {**generation, "description": "The generation of your body's current key."},
                "grant": grant,
            },
        },
        "VouchResult": {
            "type": "object",
            "properties": {"recipient": {"type": "integer"}, "generation": {"type": "integer"}},
        },
        "RotationRequest": {
            "type": "object",
            "required": ["generation", "public_key", "previous_sealed", "grants"],
            "properties": {
                "generation": {"type": "integer", "minimum": 1,
                               "description": "The current generation this rotation replaces (a stale one is refused)."},
                "public_key": {"type": "string", "description": "The new generation's public key (prh1pk_…)."},
                "previous_sealed": {**sealed_key, "description": "The current generation's private key sealed to "
                                                                 "the new public key."},
                "grants": {
                    "type": "object",
                    "description": "Recipient id (as a string) → the new body private key boxed to them; must "
                                   "include you. Members left out open nothing sealed from now on.",
                    "propertyNames": {"pattern": "^[0-9]+$"},
                    "additionalProperties": grant,
                },
            },
        },
        "TransferResult": {
            "type": "object",
            "properties": {"id": {"type": "string"}, "transferred": {"type": "boolean"}, "to": {"type": "string"}},
        },
    }


def _paths() -> dict[str, Any]:
    report = _json(_ref("Report"), "The report, as it is now.")
    return {
        "/api/v1/openapi.json": {
            "get": {
                "summary": "This document",
                "description": "Served without a token: it describes the API, never the instance.",
                "security": [],
                "responses": {"200": {"description": "The OpenAPI document.", "content": {"application/json": {"schema": {"type": "object"}}}}},
            }
        },
        "/api/v1/me": {
            "get": {
                "summary": "The recipient this token belongs to",
                "responses": {"200": _json(_ref("Me"), "You."), "401": _UNAUTHORISED},
            }
        },
        "/api/v1/bodies/{body_id}/recipients": {
            "get": {
                "summary": "A body's active recipients, their public keys, and the body's current key",
                "description": "To seal a report key to the key of the body you transfer a report to, or to "
                               "vouch for a colleague of your own body.",
                "parameters": [_BODY_ID],
                "responses": {
                    "200": _json(_ref("BodyRecipients"), "The body and its recipients."),
                    "401": _UNAUTHORISED,
                    "404": _error("No such body in the directory."),
                },
            }
        },
        "/api/v1/keyring": {
            "get": {
                "summary": "Your body's keyring, with your grant",
                "description": "Every generation of your body's key, newest first. Open your grant with your own "
                               "private key (checking who vouched), then older generations through "
                               "previous_sealed. The server never holds a body private key.",
                "responses": {"200": _json(_ref("Keyring"), "The keyring."), "401": _UNAUTHORISED},
            }
        },
        "/api/v1/body-key": {
            "post": {
                "summary": "Create your body's first key, made on your machine",
                "description": "Only while the body has no key: later members are vouched for by a member who "
                               "holds it. Confirm the fingerprint with your body out of band.",
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("BodyKeyRequest")}}},
                "responses": {"201": _json(_ref("BodyKeyCreated"), "The body key exists."), "400": _INVALID,
                              "401": _UNAUTHORISED, "409": _error("Your body has a key already, or the grant is malformed.")},
            }
        },
        "/api/v1/body-key/grants": {
            "post": {
                "summary": "Vouch for a colleague: hand them your body's key",
                "description": "The body private key boxed, on your machine, from you to the colleague's key, whose "
                               "fingerprint you confirmed with them out of band. The operator cannot do this.",
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("VouchRequest")}}},
                "responses": {"201": _json(_ref("VouchResult"), "The colleague holds the body key."), "400": _INVALID,
                              "401": _UNAUTHORISED,
                              "409": _error("You do not hold the current key, it changed, or the colleague is not an "
                                            "active recipient of your body without a grant.")},
            }
        },
        "/api/v1/intake/route": {
            "post": {
                "summary": "The route of a report you take for a person (in person or by telephone)",
                "description": "Routed as a source's review page routes it; with the current key of every body the "
                               "report key must be sealed to. Tell the person who will read it before filing.",
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("RoutingAnswers")}}},
                "responses": {"200": _json(_ref("IntakeRoute"), "The route."), "400": _INVALID,
                              "401": _UNAUTHORISED, "409": _error("Nobody outside the conflict could receive it.")},
            }
        },
        "/api/v1/intake/source": {
            "post": {
                "summary": "The source key and lookup id of a codename made on your machine",
                "description": "Derived with the instance pepper (docs/format.md §4, §11); nothing is stored or logged.",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["codename"], "properties": {"codename": {"type": "string"}}}}}},
                "responses": {"200": _json(_ref("IntakeSource"), "The source's public key and lookup id."),
                              "400": _INVALID, "401": _UNAUTHORISED},
            }
        },
        "/api/v1/intake": {
            "post": {
                "summary": "File a report you took for a person, sealed on your machine",
                "description": "Routed again on the server; the report key must be sealed to exactly the keyed bodies "
                               "of the route and the escalation chain (docs/format.md §11).",
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("IntakeRequest")}}},
                "responses": {"201": _json(_ref("IntakeResult"), "The report was stored."), "400": _INVALID,
                              "401": _UNAUTHORISED, "409": _error("The sealed keys do not fit the route, the report "
                                                                  "id exists, or a part is not a whole part."),
                              "413": _error("The request body is larger than this route accepts.")},
            }
        },
        "/api/v1/body-key/rotation": {
            "post": {
                "summary": "Rotate your body's key (after a member leaves)",
                "description": "A new generation, made on your machine, carrying the current one sealed to it and "
                               "granted to the members you keep. Reports and notes sealed from now on reach only them.",
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("RotationRequest")}}},
                "responses": {"201": _json(_ref("BodyKeyCreated"), "The new generation."), "400": _INVALID,
                              "401": _UNAUTHORISED, "409": _error("You do not hold the current key, or a grant is refused.")},
            }
        },
        "/api/v1/reports": {
            "get": {
                "summary": "Reports routed to your body, newest first",
                "responses": {
                    "200": _json({"type": "object", "properties": {"reports": {"type": "array", "items": _ref("Report")}}},
                                 "The reports."),
                    "401": _UNAUTHORISED,
                },
            }
        },
        "/api/v1/reports/{report_id}": {
            "get": {
                "summary": "One report (recorded in the audit log as an access, and marked read)",
                "parameters": [_REPORT_ID],
                "responses": {"200": report, "401": _UNAUTHORISED, "404": _NOT_FOUND},
            }
        },
        "/api/v1/reports/{report_id}/parts/{part_id}": {
            "get": {
                "summary": "A part's ciphertext (each download is recorded in the audit log)",
                "parameters": [_REPORT_ID, _PART_ID],
                "responses": {
                    "200": {"description": "The ciphertext, streamed.",
                            "content": {"application/octet-stream": {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}}},
                    "401": _UNAUTHORISED,
                    "404": _error("No such report for your body, or no such part in it."),
                },
            }
        },
        "/api/v1/reports/{report_id}/audit": {
            "get": {
                "summary": "The report's audit entries, the chain's head, its bodies' roles, escalations and clocks",
                "description": "Read-only and not itself recorded; what `parrhesia desk export` puts in an "
                               "evidence package.",
                "parameters": [_REPORT_ID],
                "responses": {"200": _json(_ref("ReportAudit"), "The report's record."), "401": _UNAUTHORISED,
                              "404": _NOT_FOUND},
            }
        },
        "/api/v1/audit/anchor": {
            "get": {
                "summary": "The audit log's head, signed, and whether it extends the entry your machine remembers",
                "description": "Read-only and not itself recorded. `parrhesia desk pull` and `desk audit` ask with "
                               "the entry they saw last and warn unless the log still holds it, unchanged, and "
                               "chains from it to the head.",
                "parameters": [{"name": "since", "in": "query", "required": False,
                                "schema": {"type": "integer", "minimum": 1, "maximum": 9223372036854775807},
                                "description": "The number of the entry remembered (none on a first look)."}],
                "responses": {"200": _json(_ref("AuditAnchor"), "The signed statement."), "400": _INVALID,
                              "401": _UNAUTHORISED,
                              "503": _error("The instance cannot sign now (its operator runs `parrhesia doctor`).")},
            }
        },
        "/api/v1/reports/{report_id}/replies/{part_id}": {
            "put": {
                "summary": "Send a reply sealed on your machine",
                "description": "The body is the reply in the Parrhesia part format, encrypted to the report public "
                               "key with metadata {\"kind\": \"reply\"}. The source reads it after logging in. "
                               "With feedback=1 the reply is the feedback the law requires and meets the "
                               "report's feedback clocks.",
                "parameters": [
                    _REPORT_ID, _PART_ID,
                    {"name": "feedback", "in": "query", "required": False, "schema": {"type": "string", "enum": ["0", "1"]},
                     "description": "1: this reply is feedback to the source (meets feedback clocks)."},
                ],
                "requestBody": {"required": True, "content": {"application/octet-stream": {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}}},
                "responses": {
                    "201": _json(_ref("PartCreated"), "The reply is stored."),
                    "400": _INVALID,
                    "401": _UNAUTHORISED,
                    "404": _NOT_FOUND,
                    "409": _error("A part with this id already exists."),
                    "413": _error("The reply is larger than this instance accepts."),
                },
            }
        },
        "/api/v1/reports/{report_id}/acknowledge": {
            "post": _action(
                "Acknowledge receipt",
                "Sets the status to acknowledged (if it was received) and meets the report's acknowledgement "
                "clocks for your body (e.g. Directive 2019/1937 Art 9(1)(b)).",
                None, {"200": report},
            )
        },
        "/api/v1/reports/{report_id}/status": {
            "post": _action(
                "Change the report's status",
                f"Statuses: {', '.join(STATUSES)}.", _ref("StatusRequest"), {"200": report},
                extra={"413": _error("The request body is too large.")},
            )
        },
        "/api/v1/reports/{report_id}/junk": {
            "post": _action(
                "Mark the report as junk",
                "For a report that is not genuine (a flood's): your body's running and paused clocks on it stop, "
                "its retention period starts, and the reason is recorded in the audit log. The source is told "
                "and may ask at once for the next independent body; giving the report another status restarts "
                "the stopped clocks, the days they stood added to their deadlines.",
                {"type": "object", "required": ["reason"], "properties": {"reason": {"type": "string"}}},
                {"200": report},
            )
        },
        "/api/v1/reports/{report_id}/notes": {
            "post": _action(
                "Add an internal note, sealed on your machine",
                "Notes are for your body only, never for the source or another body. The note is sealed on "
                "your machine, not on the server: make a keypair for the note, encrypt the text to its public "
                "key, and seal its private key to your body's current key (GET /api/v1/keyring), so every "
                "present and future member of your body reads it. A stale generation is refused (400); the "
                "server never sees the text.",
                _ref("NoteRequest"), {"201": _json(_ref("PartCreated"), "The note is stored.")},
                extra={"409": _error("A part with this id already exists."),
                       "413": _error("The note is larger than 1 MiB.")},
            )
        },
        "/api/v1/reports/{report_id}/recusal": {
            "post": _action(
                "Declare a conflict of interest",
                "Your body loses access at once; the report goes to the next body of its escalation chain not "
                "in conflict, or to the recipient of last resort.",
                _ref("RecusalRequest"), {"200": _json(_ref("RecusalResult"), "Recused.")},
                extra={"413": _error("The request body is too large.")},
            )
        },
        "/api/v1/reports/{report_id}/clocks/{clock_id}/extension": {
            "post": {
                **_action(
                    "Extend a running clock",
                    "Only where the clock's law allows an extension (e.g. feedback from 3 to 6 months in duly "
                    "justified cases, Directive 2019/1937 Art 11(2)(d)), with the reason that justifies it.",
                    _ref("ExtensionRequest"), {"200": report},
                    extra={"413": _error("The request body is too large.")},
                ),
                "parameters": [_REPORT_ID, {"name": "clock_id", "in": "path", "required": True,
                                            "schema": {"type": "string"}, "description": "The clock's id."}],
            }
        },
        "/api/v1/reports/{report_id}/clocks/{clock_id}/pause": {
            "post": {
                **_action(
                    "Stop a running clock",
                    "Only where the clock's law allows it (the clock is pausable), with the reason.",
                    {"type": "object", "required": ["reason"], "properties": {"reason": {"type": "string"}}},
                    {"200": report},
                ),
                "parameters": [_REPORT_ID, _CLOCK_ID],
            }
        },
        "/api/v1/reports/{report_id}/clocks/{clock_id}/resume": {
            "post": {
                **_action("Restart a paused clock", "The days it was paused are added to its deadline.", None,
                          {"200": report}),
                "parameters": [_REPORT_ID, _CLOCK_ID],
            }
        },
        "/api/v1/reports/{report_id}/transfer": {
            "post": _action(
                "Transfer the report to another body",
                "Your body loses access. The target must not be in conflict. If it is not on the report's "
                "escalation chain it does not hold the report key yet: open the key on your machine, check the "
                "target body's key fingerprint out of band, and send the report key sealed to that body key "
                "in sealed_key with its generation. The target must have a key granted to an active member.",
                _ref("TransferRequest"), {"200": _json(_ref("TransferResult"), "Transferred.")},
                extra={"413": _error("The request body is too large.")},
            )
        },
    }


def _protection_paths() -> dict[str, Any]:
    request_id = {"name": "request_id", "in": "path", "required": True, "schema": {"type": "string"},
                  "description": "The protection request id."}
    not_found = _error("No such protection request for your body (or, for a part, not readable yet).")
    return {
        "/api/v1/protection-requests": {
            "get": {
                "summary": "Protection requests sent to your body",
                "description": "Each request carries the details part id and its key sealed to your body's key. The identity a "
                               "source gave is listed with its state only; its part and key appear once the source "
                               "consented or a custodian's decision took effect (Directive 2019/1937 Art 16).",
                "responses": {"200": _json({"type": "object"}, "The requests."), "401": _UNAUTHORISED},
            }
        },
        "/api/v1/protection-requests/{request_id}/parts/{part_id}": {
            "get": {
                "summary": "The ciphertext of a request's details (or identity, once readable)",
                "parameters": [request_id, _PART_ID],
                "responses": {
                    "200": {"description": "The ciphertext.", "content": {"application/octet-stream": {"schema": {"type": "string"}}}},
                    "401": _UNAUTHORISED,
                    "404": not_found,
                },
            }
        },
        "/api/v1/protection-requests/{request_id}/status": {
            "post": {
                "summary": "Change a protection request's status (shown to the source)",
                "parameters": [request_id],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["status"],
                    "properties": {"status": {"type": "string", "enum": list(PROTECTION_STATUSES)}}}}}},
                "responses": {"200": _json({"type": "object"}, "The request."), "400": _INVALID,
                              "401": _UNAUTHORISED, "404": not_found},
            }
        },
    }


def document() -> dict[str, Any]:
    """The OpenAPI document, built fresh (callers may not share or mutate it)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Parrhesia recipients' API",
            "version": __version__,
            "description": (
                "The API of a recipient's own tools (such as `parrhesia desk`). It hands out ciphertext, keys "
                "sealed to the recipient's body key and the recipient's grant of that body key, and takes "
                "replies, notes and grants sealed on the recipient's machine: the server never decrypts "
                "anything. Every route but this document needs a "
                "recipient's API token (Authorization: Bearer TOKEN). A report that is not routed to your "
                "body is answered 404. Every action is recorded in the instance's audit log. Errors are "
                'JSON objects {"error", "message"}.'
            ),
        },
        "security": _BEARER,
        "paths": {**_paths(), **_protection_paths()},
        "components": {
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "description": "A recipient's API token."}
            },
            "schemas": _schemas(),
        },
    }
