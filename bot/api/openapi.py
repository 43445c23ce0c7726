"""The OpenAPI 3.1 document served at ``/api/v1/openapi.json``."""

from __future__ import annotations

from typing import Any

_SIGNED: list[dict[str, list[str]]] = [{"clientId": [], "timestamp": [], "signature": []}]

_ERROR = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {
            "type": "string",
            "enum": [
                "unauthorized",
                "bad_signature",
                "stale_timestamp",
                "replayed",
                "invalid_json",
                "invalid_request",
                "invalid_amount",
                "unknown_card",
                "unknown_campaign",
                "idempotency_conflict",
                "in_progress",
                "refused",
                "platform_unavailable",
            ],
        },
        "message": {"type": "string"},
    },
}

_MEMBER = {
    "card_number": {"type": "string", "description": "The member's card number."},
    "member_code": {"type": "string", "description": "Or the member's code."},
    "campaign_id": {
        "type": "string",
        "description": "Default: the program's first points campaign.",
    },
    "idempotency_key": {
        "type": "string",
        "maxLength": 100,
        "description": "The same key twice records once and answers the same.",
    },
}

_RECEIPT = {
    "type": "object",
    "properties": {
        "idempotency_key": {"type": "string"},
        "transaction_id": {"type": "string"},
        "campaign_id": {"type": "string"},
        "card_number": {"type": "string"},
        "earned": {"type": ["string", "null"]},
        "deducted": {"type": ["string", "null"]},
        "balance": {
            "type": ["object", "null"],
            "properties": {
                "kind": {"type": "string"},
                "amount": {"type": "string"},
                "unit": {
                    "type": "string",
                    "description": "points, visits, items, or the currency of money",
                },
                "worth": {
                    "type": "object",
                    "description": "What points are worth, when the campaign says.",
                    "properties": {
                        "amount": {"type": "string"},
                        "currency": {"type": "string"},
                    },
                },
            },
        },
        "repeated": {
            "type": "boolean",
            "description": "True when this key was recorded before (nothing new recorded).",
        },
    },
}


def _operation(summary: str, properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "summary": summary,
        "security": _SIGNED,
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["idempotency_key"],
                        "properties": {**_MEMBER, **properties},
                    }
                }
            },
        },
        "responses": {
            "200": {
                "description": "Recorded (or recorded before under this key).",
                "content": {"application/json": {"schema": _RECEIPT}},
            },
            **{
                status: {
                    "description": description,
                    "content": {"application/json": {"schema": _ERROR}},
                }
                for status, description in (
                    ("400", "The body is not JSON."),
                    ("401", "Unsigned, unknown client, bad signature or old timestamp."),
                    ("404", "No member has that card."),
                    ("409", "Replayed, in progress, or refused by the platform."),
                    ("422", "A malformed field, or the key used for another request."),
                    ("503", "The platform did not answer: send the same request again."),
                )
            },
        },
    }


OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "loyalty-bot POS API",
        "version": "1",
        "description": (
            "Record purchases and redemptions from a till or an e-commerce backend. Sign "
            "each request: X-Signature = hex HMAC-SHA256(secret, X-Timestamp + '.' + body), "
            "X-Timestamp in Unix seconds within the allowed window; a request is accepted "
            "once."
        ),
    },
    "servers": [{"url": "/api/v1"}],
    "components": {
        "securitySchemes": {
            "clientId": {"type": "apiKey", "in": "header", "name": "X-Client-Id"},
            "timestamp": {"type": "apiKey", "in": "header", "name": "X-Timestamp"},
            "signature": {"type": "apiKey", "in": "header", "name": "X-Signature"},
        }
    },
    "paths": {
        "/purchases": {
            "post": _operation(
                "Record a purchase (or a visit)",
                {
                    "amount": {
                        "type": "string",
                        "description": "Money spent (points and gift-card campaigns).",
                    },
                    "item": {"type": "string", "description": "A buy-X item."},
                    "quantity": {"type": "integer", "minimum": 1, "maximum": 99},
                },
            )
        },
        "/redemptions": {
            "post": _operation(
                "Redeem a reward, an amount or a free buy-X item",
                {
                    "reward_id": {"type": "string"},
                    "amount": {"type": "string"},
                    "item": {"type": "string"},
                },
            )
        },
    },
}
