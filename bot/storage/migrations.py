"""The schema's history: forward-only migrations, applied in order at open.

``PRAGMA user_version`` holds the number of the last migration applied. A shipped migration
is never edited; a change to the schema is a new migration at the end of the list.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


def check_migrations(migrations: Sequence[Migration]) -> None:
    versions = [migration.version for migration in migrations]
    if versions != list(range(1, len(versions) + 1)):
        raise ValueError(f"migrations must be numbered 1, 2, 3 … in order, got {versions}")


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        version=1,
        name="fsm records, member links, languages, card file ids",
        statements=(
            # thread 0 and business connection '' stand for "none": NULLs would never
            # collide in a primary key, and Telegram never issues those values.
            """
            CREATE TABLE fsm_records (
                bot_id INTEGER NOT NULL,
                chat_id INTEGER NOT NULL,
                user_id INTEGER NOT NULL,
                thread_id INTEGER NOT NULL DEFAULT 0,
                business_connection_id TEXT NOT NULL DEFAULT '',
                destiny TEXT NOT NULL,
                state TEXT,
                data TEXT,
                updated_at TEXT NOT NULL,
                PRIMARY KEY (bot_id, chat_id, user_id, thread_id, business_connection_id, destiny)
            ) WITHOUT ROWID
            """,
            "CREATE INDEX fsm_records_by_user ON fsm_records (user_id)",
            """
            CREATE TABLE member_links (
                telegram_user_id INTEGER PRIMARY KEY,
                member_code TEXT NOT NULL UNIQUE,
                card_number TEXT NOT NULL DEFAULT '',
                first_name TEXT NOT NULL DEFAULT '',
                linked_at TEXT NOT NULL
            )
            """,
            """
            CREATE TABLE user_languages (
                telegram_user_id INTEGER PRIMARY KEY,
                language TEXT NOT NULL,
                chosen_at TEXT NOT NULL
            )
            """,
            """
            CREATE TABLE card_images (
                bot_id INTEGER NOT NULL,
                card_number TEXT NOT NULL,
                file_id TEXT NOT NULL,
                remembered_at TEXT NOT NULL,
                PRIMARY KEY (bot_id, card_number)
            )
            """,
        ),
    ),
    Migration(
        version=2,
        name="rendered card PNGs, pending email codes, pending joins",
        statements=(
            # A PNG is kept before its upload gives a file_id, so file_id becomes optional;
            # SQLite cannot drop NOT NULL in place, hence the copy.
            """
            CREATE TABLE card_images_v2 (
                bot_id INTEGER NOT NULL,
                card_number TEXT NOT NULL,
                file_id TEXT,
                file_id_at TEXT,
                png BLOB,
                png_at TEXT,
                PRIMARY KEY (bot_id, card_number),
                CHECK (file_id IS NOT NULL OR png IS NOT NULL)
            )
            """,
            """
            INSERT INTO card_images_v2 (bot_id, card_number, file_id, file_id_at)
            SELECT bot_id, card_number, file_id, remembered_at FROM card_images
            """,
            "DROP TABLE card_images",
            "ALTER TABLE card_images_v2 RENAME TO card_images",
            """
            CREATE TABLE email_codes (
                telegram_user_id INTEGER PRIMARY KEY,
                email TEXT NOT NULL,
                code_hash TEXT NOT NULL,
                expires_at TEXT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                resends INTEGER NOT NULL DEFAULT 0,
                started_at TEXT NOT NULL
            )
            """,
            """
            CREATE TABLE pending_joins (
                telegram_user_id INTEGER PRIMARY KEY,
                member_code TEXT NOT NULL UNIQUE,
                payload TEXT NOT NULL,
                created_at TEXT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                next_attempt_at TEXT NOT NULL
            )
            """,
            "CREATE INDEX pending_joins_by_due ON pending_joins (next_attempt_at)",
        ),
    ),
    Migration(
        version=3,
        name="bulk import checkpoints",
        statements=(
            """
            CREATE TABLE imports (
                id INTEGER PRIMARY KEY,
                key TEXT NOT NULL UNIQUE,
                kind TEXT NOT NULL,
                source TEXT NOT NULL,
                options TEXT NOT NULL,
                confirmed_records INTEGER NOT NULL DEFAULT 0,
                total_records INTEGER,
                started_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                finished_at TEXT
            )
            """,
            # One row per chunk sent (or settled without sending): its record range, its
            # state, and the report lines of its rows as JSON, so a resumed import can write
            # the whole report. 'sending' left behind means the process died mid-request.
            """
            CREATE TABLE import_chunks (
                import_id INTEGER NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
                first_record INTEGER NOT NULL,
                end_record INTEGER NOT NULL,
                state TEXT NOT NULL CHECK (state IN ('sending', 'done', 'doubt')),
                results TEXT NOT NULL DEFAULT '[]',
                updated_at TEXT NOT NULL,
                PRIMARY KEY (import_id, first_record),
                CHECK (end_record > first_record)
            )
            """,
        ),
    ),
    Migration(
        version=4,
        name="kiosks, their staff action log, kiosk joins in progress",
        statements=(
            # Only hashes of the pairing code, the kiosk secret and the staff PIN are kept.
            """
            CREATE TABLE kiosks (
                id INTEGER PRIMARY KEY,
                store TEXT NOT NULL,
                label TEXT NOT NULL DEFAULT '',
                pairing_hash TEXT UNIQUE,
                pairing_expires_at TEXT,
                secret_hash TEXT UNIQUE,
                pin_hash TEXT,
                pin_failures INTEGER NOT NULL DEFAULT 0,
                pin_locked_until TEXT,
                created_at TEXT NOT NULL,
                paired_at TEXT,
                revoked_at TEXT
            )
            """,
            """
            CREATE TABLE kiosk_actions (
                id INTEGER PRIMARY KEY,
                kiosk_id INTEGER NOT NULL REFERENCES kiosks (id),
                at TEXT NOT NULL,
                action TEXT NOT NULL,
                outcome TEXT NOT NULL,
                member_code TEXT NOT NULL DEFAULT '',
                campaign_id TEXT NOT NULL DEFAULT '',
                detail TEXT NOT NULL DEFAULT '{}',
                transaction_id TEXT NOT NULL DEFAULT ''
            )
            """,
            "CREATE INDEX kiosk_actions_by_kiosk ON kiosk_actions (kiosk_id, at)",
            # A walk-in's member code, chosen before the platform call so that a retry after
            # a lost answer finds the member instead of creating a second one.
            """
            CREATE TABLE kiosk_joins (
                kiosk_id INTEGER NOT NULL REFERENCES kiosks (id),
                contact TEXT NOT NULL,
                member_code TEXT NOT NULL UNIQUE,
                created_at TEXT NOT NULL,
                PRIMARY KEY (kiosk_id, contact)
            )
            """,
        ),
    ),
    Migration(
        version=5,
        name="signup links, their attempts, visits, joins, bonuses and attributions",
        statements=(
            # Links are looked up by the SHA-256 of the token; the token is kept for printing.
            """
            CREATE TABLE signup_links (
                id INTEGER PRIMARY KEY,
                token TEXT NOT NULL UNIQUE,
                token_digest TEXT NOT NULL UNIQUE,
                campaign_id TEXT,
                source TEXT NOT NULL,
                bonus TEXT,
                expires_at TEXT,
                max_uses INTEGER CHECK (max_uses IS NULL OR max_uses >= 1),
                uses INTEGER NOT NULL DEFAULT 0,
                disabled_at TEXT,
                note TEXT NOT NULL DEFAULT '',
                member_code TEXT,
                created_at TEXT NOT NULL,
                CHECK (uses >= 0 AND (max_uses IS NULL OR uses <= max_uses))
            )
            """,
            "CREATE INDEX signup_links_by_source ON signup_links (source)",
            # Every /start with a payload, valid or not; link_id is NULL for forged ones.
            """
            CREATE TABLE link_attempts (
                id INTEGER PRIMARY KEY,
                link_id INTEGER REFERENCES signup_links (id),
                telegram_user_id INTEGER,
                outcome TEXT NOT NULL CHECK (outcome IN (
                    'valid', 'member', 'forged', 'unknown', 'expired', 'disabled', 'used_up'
                )),
                at TEXT NOT NULL
            )
            """,
            "CREATE INDEX link_attempts_by_user ON link_attempts (telegram_user_id)",
            # The link a visitor opened, kept until their join completes.
            """
            CREATE TABLE link_visits (
                telegram_user_id INTEGER PRIMARY KEY,
                link_id INTEGER NOT NULL REFERENCES signup_links (id),
                attempt_id INTEGER NOT NULL REFERENCES link_attempts (id),
                opened_at TEXT NOT NULL
            )
            """,
            """
            CREATE TABLE link_signups (
                id INTEGER PRIMARY KEY,
                link_id INTEGER NOT NULL REFERENCES signup_links (id),
                attempt_id INTEGER REFERENCES link_attempts (id),
                telegram_user_id INTEGER,
                planned_member_code TEXT,
                member_code TEXT,
                bonus_in_create INTEGER NOT NULL DEFAULT 0,
                state TEXT NOT NULL CHECK (state IN ('claimed', 'joined')),
                claimed_at TEXT NOT NULL,
                joined_at TEXT
            )
            """,
            """
            CREATE UNIQUE INDEX link_signups_one_claim_per_user
            ON link_signups (telegram_user_id) WHERE state = 'claimed'
            """,
            "CREATE INDEX link_signups_by_member ON link_signups (member_code)",
            # One bonus per member and campaign, written before the platform is asked to pay.
            """
            CREATE TABLE signup_bonuses (
                member_code TEXT NOT NULL,
                campaign_id TEXT NOT NULL,
                signup_id INTEGER NOT NULL REFERENCES link_signups (id),
                amount TEXT NOT NULL,
                state TEXT NOT NULL CHECK (state IN (
                    'in_create', 'sending', 'doubt', 'credited', 'failed'
                )),
                marker TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                PRIMARY KEY (member_code, campaign_id)
            )
            """,
            "CREATE INDEX signup_bonuses_by_signup ON signup_bonuses (signup_id)",
            """
            CREATE TABLE member_attributions (
                member_code TEXT PRIMARY KEY,
                link_id INTEGER NOT NULL REFERENCES signup_links (id),
                attributed_at TEXT NOT NULL
            )
            """,
            """
            CREATE TABLE installation_secrets (
                name TEXT PRIMARY KEY,
                value TEXT NOT NULL,
                created_at TEXT NOT NULL
            )
            """,
        ),
    ),
    Migration(
        version=6,
        name="invite links, referrals, owed bonuses, birthdays and birthday treats",
        statements=(
            # One invite link per member, found by the SHA-256 of its token.
            """
            CREATE TABLE invite_links (
                member_code TEXT PRIMARY KEY,
                token TEXT NOT NULL UNIQUE,
                token_digest TEXT NOT NULL UNIQUE,
                created_at TEXT NOT NULL
            )
            """,
            # Every /start with an invite-shaped payload; inviter_code is NULL for forged ones.
            """
            CREATE TABLE referral_attempts (
                id INTEGER PRIMARY KEY,
                inviter_code TEXT,
                telegram_user_id INTEGER,
                outcome TEXT NOT NULL CHECK (outcome IN (
                    'valid', 'forged', 'unknown', 'self', 'member', 'cap'
                )),
                month TEXT NOT NULL,
                at TEXT NOT NULL
            )
            """,
            "CREATE INDEX referral_attempts_by_inviter ON referral_attempts (inviter_code, at)",
            """
            CREATE TABLE referral_visits (
                telegram_user_id INTEGER PRIMARY KEY,
                inviter_code TEXT NOT NULL,
                opened_at TEXT NOT NULL
            )
            """,
            # month is YYYY-MM in the shop's time zone: the inviter's monthly cap counts it.
            """
            CREATE TABLE referrals (
                id INTEGER PRIMARY KEY,
                inviter_code TEXT NOT NULL,
                month TEXT NOT NULL,
                telegram_user_id INTEGER,
                planned_member_code TEXT,
                friend_code TEXT,
                friend_name TEXT NOT NULL DEFAULT '',
                state TEXT NOT NULL CHECK (state IN ('claimed', 'joined', 'refused')),
                refusal TEXT CHECK (refusal IS NULL OR refusal IN ('self', 'member', 'cap')),
                claimed_at TEXT NOT NULL,
                settled_at TEXT,
                inviter_told_at TEXT
            )
            """,
            """
            CREATE UNIQUE INDEX referrals_one_per_user
            ON referrals (telegram_user_id) WHERE state IN ('claimed', 'joined')
            """,
            """
            CREATE UNIQUE INDEX referrals_one_per_friend
            ON referrals (friend_code) WHERE state = 'joined'
            """,
            "CREATE INDEX referrals_by_inviter ON referrals (inviter_code, month, state)",
            # A bonus owed for a reason (its key), written before the platform is asked to pay.
            """
            CREATE TABLE owed_bonuses (
                key TEXT PRIMARY KEY,
                member_code TEXT NOT NULL,
                campaign_id TEXT NOT NULL,
                amount TEXT NOT NULL,
                state TEXT NOT NULL CHECK (state IN ('sending', 'doubt', 'credited', 'failed')),
                marker TEXT NOT NULL,
                updated_at TEXT NOT NULL
            )
            """,
            "CREATE INDEX owed_bonuses_by_state ON owed_bonuses (state, updated_at)",
            # The member's birthday (YYYY-MM-DD) as last given in the bot or read from the
            # platform, and when the platform was last asked.
            "ALTER TABLE member_links ADD COLUMN birthday TEXT",
            "ALTER TABLE member_links ADD COLUMN birthday_checked_at TEXT",
            "CREATE INDEX member_links_by_birthday ON member_links (substr(birthday, 6, 5))",
            # Claimed before anything is sent: one treat per member and year, whatever runs it.
            """
            CREATE TABLE birthday_treats (
                member_code TEXT NOT NULL,
                year INTEGER NOT NULL,
                birthday TEXT NOT NULL,
                claimed_at TEXT NOT NULL,
                PRIMARY KEY (member_code, year)
            )
            """,
        ),
    ),
    Migration(
        version=7,
        name="update inbox, set-aside updates, member message outbox",
        statements=(
            # Every update as Telegram handed it over, kept before it is confirmed; a handled
            # one keeps only its id (state 'done'), so a redelivery is recognised.
            """
            CREATE TABLE inbox_updates (
                update_id INTEGER PRIMARY KEY,
                payload TEXT,
                state TEXT NOT NULL DEFAULT 'new' CHECK (state IN ('new', 'done', 'dead')),
                attempts INTEGER NOT NULL DEFAULT 0,
                owner TEXT NOT NULL DEFAULT '',
                received_at TEXT NOT NULL,
                handled_at TEXT
            )
            """,
            "CREATE INDEX inbox_updates_unhandled ON inbox_updates (owner) WHERE state = 'new'",
            "CREATE INDEX inbox_updates_handled ON inbox_updates (handled_at) "
            "WHERE state != 'new'",
            """
            CREATE TABLE inbox_owners (
                owner TEXT PRIMARY KEY,
                seen_at TEXT NOT NULL
            )
            """,
            """
            CREATE TABLE dead_updates (
                update_id INTEGER PRIMARY KEY,
                payload TEXT NOT NULL,
                reason TEXT NOT NULL,
                attempts INTEGER NOT NULL,
                failed_at TEXT NOT NULL
            )
            """,
            """
            CREATE TABLE outbox (
                id INTEGER PRIMARY KEY,
                key TEXT NOT NULL UNIQUE,
                chat_id INTEGER NOT NULL,
                kind TEXT NOT NULL,
                payload TEXT NOT NULL,
                state TEXT NOT NULL DEFAULT 'queued'
                    CHECK (state IN ('queued', 'sending', 'sent', 'failed')),
                attempts INTEGER NOT NULL DEFAULT 0,
                in_doubt INTEGER NOT NULL DEFAULT 0,
                next_attempt_at TEXT NOT NULL,
                created_at TEXT NOT NULL,
                sent_at TEXT,
                message_id INTEGER,
                error TEXT NOT NULL DEFAULT ''
            )
            """,
            """
            CREATE INDEX outbox_waiting ON outbox (chat_id, id)
            WHERE state IN ('queued', 'sending')
            """,
            "CREATE INDEX outbox_due ON outbox (next_attempt_at) "
            "WHERE state IN ('queued', 'sending')",
        ),
    ),
    Migration(
        version=8,
        name="the web server's port, for the kiosk pairing links the CLI prints",
        statements=(
            # Written by `run` once it serves (it may be on --port N or any free port).
            """
            CREATE TABLE web_server (
                id INTEGER PRIMARY KEY CHECK (id = 1),
                port INTEGER NOT NULL,
                started_at TEXT NOT NULL
            )
            """,
        ),
    ),
    Migration(
        version=9,
        name="when each birthday greeting went out",
        statements=(
            # NULL: claimed but not (yet) sent; a greeting whose sender died is sent again.
            "ALTER TABLE birthday_treats ADD COLUMN greeted_at TEXT",
        ),
    ),
    Migration(
        version=10,
        name="card images: Telegram's file_id only, no rendered PNGs in the database",
        statements=(
            # A PNG is rendered again when needed; only rows with a file_id are worth keeping.
            """
            CREATE TABLE card_images_v3 (
                bot_id INTEGER NOT NULL,
                card_number TEXT NOT NULL,
                file_id TEXT NOT NULL,
                file_id_at TEXT NOT NULL,
                PRIMARY KEY (bot_id, card_number)
            )
            """,
            """
            INSERT INTO card_images_v3 (bot_id, card_number, file_id, file_id_at)
            SELECT bot_id, card_number, file_id, COALESCE(file_id_at, png_at, '')
            FROM card_images WHERE file_id IS NOT NULL
            """,
            "DROP TABLE card_images",
            "ALTER TABLE card_images_v3 RENAME TO card_images",
        ),
    ),
    Migration(
        version=11,
        name="members' message switches (balance changes, broadcasts), unreachable chats",
        statements=(
            # No row: both switches on. unreachable_at: the member blocked the bot.
            """
            CREATE TABLE notification_settings (
                telegram_user_id INTEGER PRIMARY KEY,
                balance INTEGER NOT NULL DEFAULT 1,
                broadcasts INTEGER NOT NULL DEFAULT 1,
                unreachable_at TEXT,
                changed_at TEXT NOT NULL
            )
            """,
        ),
    ),
    Migration(
        version=12,
        name="when each inviter's notice went out",
        statements=(
            # inviter_told_at: the notice is claimed; this: it went out. A claim left without
            # it by a dead process is taken again.
            "ALTER TABLE referrals ADD COLUMN inviter_notice_sent_at TEXT",
        ),
    ),
    Migration(
        version=13,
        name="POS API clients, their requests by idempotency key, signatures seen",
        statements=(
            # secret_hash: SHA-256 of the client's secret (derived from the API master key).
            """
            CREATE TABLE api_clients (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL,
                key_id TEXT NOT NULL UNIQUE,
                secret_hash TEXT NOT NULL,
                created_at TEXT NOT NULL,
                revoked_at TEXT
            )
            """,
            # state: pending (being sent), doubt (no answer: look it up before sending again),
            # done (response kept: the same key answers the same).
            """
            CREATE TABLE api_requests (
                client_id INTEGER NOT NULL,
                idempotency_key TEXT NOT NULL,
                request_digest TEXT NOT NULL,
                state TEXT NOT NULL,
                marker TEXT NOT NULL,
                status INTEGER,
                response TEXT,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                PRIMARY KEY (client_id, idempotency_key)
            )
            """,
            """
            CREATE TABLE api_signatures (
                client_id INTEGER NOT NULL,
                signature TEXT NOT NULL,
                seen_at TEXT NOT NULL,
                PRIMARY KEY (client_id, signature)
            )
            """,
        ),
    ),
    Migration(
        version=14,
        name="the balance watcher's cursor: the newest transaction seen per member",
        statements=(
            """
            CREATE TABLE watch_cursors (
                member_code TEXT PRIMARY KEY,
                last_seen TEXT NOT NULL,
                checked_at TEXT NOT NULL
            )
            """,
        ),
    ),
    Migration(
        version=15,
        name="kiosk balance notices written before the platform call, settled by their marker",
        statements=(
            """
            CREATE TABLE kiosk_notices (
                marker TEXT PRIMARY KEY,
                member_code TEXT NOT NULL,
                campaign_id TEXT NOT NULL,
                created_at TEXT NOT NULL
            )
            """,
        ),
    ),
)
