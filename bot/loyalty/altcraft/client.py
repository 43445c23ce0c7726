"""Altcraft as a ``LoyaltyBackend``, over the API mirror (``api.py``).

A member is a profile of ``profiles_db_id`` registered in ``loyalty_program_id``; the bot's member
code and card number live in profile fields. ``docs/altcraft-wire.md`` records every mapping
choice.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import logging
import re
import secrets
import uuid
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from typing import Any, TypeVar

import httpx

from bot.loyalty.altcraft.api import AltcraftApi
from bot.loyalty.altcraft.settings import AltcraftMatching, AltcraftSettings
from bot.loyalty.altcraft.wire import (
    MAX_BATCH_ROWS,
    MAX_BODY_BYTES,
    AccountTransaction,
    BatchMember,
    BatchRowResult,
    BatchTooLarge,
    PointsOperation,
    Profile,
    ProfileRef,
    batch_rows_body,
    encode_body,
)
from bot.loyalty.errors import (
    AlreadyExists,
    AuthFailed,
    LoyaltyError,
    NotFound,
    ProtocolError,
    Rejected,
    Unavailable,
)
from bot.loyalty.models import (
    Campaign,
    CampaignBalance,
    CampaignKind,
    DuplicatePolicy,
    ImportOutcome,
    ImportResult,
    Member,
    MemberImportRow,
    NewMember,
    PointsBalance,
    ProfileChanges,
    Purchase,
    Receipt,
    Redemption,
    Reward,
    Transaction,
    TransactionImportRow,
)
from bot.loyalty.options import ClientOptions
from bot.loyalty.phones import phone_key

__all__ = [
    "CODE_FIELD",
    "AltcraftClient",
    "BatchMember",
    "BatchTooLarge",
    "ProfileRef",
]

_log = logging.getLogger(__name__)

CODE_FIELD = "loyalty_code"
"""Profile field that holds the member code the bot chose before enrolling."""

_PROFILE_ID = re.compile(r"[0-9a-f]{24}")
_HISTORY_PAGE = 100
_HISTORY_MAX_PAGES = 100
_CARD_ATTEMPTS = 5
_PROFILE_CONCURRENCY = 8
"""Profile look-ups and creations of a member import in flight at once."""

T = TypeVar("T")


class AltcraftClient(AltcraftApi):
    """Altcraft as a ``LoyaltyBackend``."""

    platform = "altcraft"

    @classmethod
    def from_options(
        cls,
        settings: AltcraftSettings,
        options: ClientOptions,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> AltcraftClient:
        """The registry's factory: its own settings plus the options every client takes."""
        return cls(
            settings, options.http, card=options.card, transport=transport, region=options.region
        )

    @property
    def campaign_id(self) -> str:
        """The one campaign: the program's points currency."""
        return self._settings.points_currency_eid or "points"

    @property
    def campaign_name(self) -> str:
        return self._settings.points_currency_eid or "Points"

    def _check_campaign(self, campaign_id: str) -> None:
        if campaign_id != self.campaign_id:
            raise NotFound(
                f"no campaign {campaign_id!r}: this Altcraft program has one, {self.campaign_id!r}"
            )

    def _code_refs(self, code: str) -> list[ProfileRef]:
        refs = [ProfileRef.custom(CODE_FIELD, code)]
        if _PROFILE_ID.fullmatch(code):
            refs.append(ProfileRef.profile_id(code))
        return refs

    async def _profile_or_none(self, ref: ProfileRef) -> Profile | None:
        if not ref.value:
            return None
        try:
            return await self.get_profile(ref)
        except NotFound:
            return None

    async def _is_member(self, profile_id: str) -> bool:
        try:
            await self.account_balance(ProfileRef.profile_id(profile_id))
        except NotFound:
            return False
        return True

    async def _member_by(self, refs: Sequence[ProfileRef]) -> Member | None:
        for ref in refs:
            profile = await self._profile_or_none(ref)
            if profile is not None and await self._is_member(profile.id):
                return self._member(profile)
        return None

    async def _with_member(
        self, refs: Sequence[ProfileRef], operation: Callable[[ProfileRef], Awaitable[T]]
    ) -> T:
        """Run ``operation`` with the first ref that finds a member (a 404 changed nothing)."""
        last: NotFound | None = None
        for ref in refs:
            try:
                return await operation(ref)
            except NotFound as exc:
                last = exc
        raise last or NotFound("no member matches")

    def _member(self, profile: Profile) -> Member:
        return Member(
            code=profile.text(CODE_FIELD) or profile.id,
            card_number=profile.text(self._settings.card_field),
            first_name=profile.text("_fname"),
            last_name=profile.text("_lname"),
            phone=profile.phones[0] if profile.phones else "",
            email=profile.text("email"),
            birthday=_date_of(profile.text("_bdate")),
            registered=True,
            campaign_ids=(self.campaign_id,),
        )

    def _points_balance(self, points: Decimal) -> PointsBalance:
        return PointsBalance(
            campaign_id=self.campaign_id, campaign_name=self.campaign_name, points=points
        )

    async def find_member_by_phone(self, phone: str) -> Member | None:
        # Profiles keep the E.164 the bot stored; a number written otherwise is read first.
        return await self._member_by([ProfileRef.phone(phone_key(phone, self._region) or phone)])

    async def find_member_by_email(self, email: str) -> Member | None:
        return await self._member_by([ProfileRef.email(email.strip())])

    async def find_member_by_card(self, card_number: str) -> Member | None:
        return await self._member_by([ProfileRef.custom(self._settings.card_field, card_number)])

    async def get_member(self, code: str) -> Member | None:
        return await self._member_by(self._code_refs(code))

    async def enroll(self, new_member: NewMember) -> Member:
        for campaign_id in new_member.campaign_ids:
            self._check_campaign(campaign_id)
        profile = await self._profile_or_none(ProfileRef.custom(CODE_FIELD, new_member.code))
        if profile is not None and await self._is_member(profile.id):
            raise AlreadyExists(f"member code {new_member.code!r} is taken")
        if new_member.card_number:
            holder = await self._profile_or_none(
                ProfileRef.custom(self._settings.card_field, new_member.card_number)
            )
            if holder is not None and (profile is None or holder.id != profile.id):
                raise AlreadyExists(f"card number {new_member.card_number!r} is taken")
        if profile is None:
            profile = await self._adoptable_profile(new_member)
        card_number = new_member.card_number or (
            profile.text(self._settings.card_field) if profile else ""
        )
        if not card_number:
            card_number = await self._new_card_number()
        data = _profile_data(_given_fields(new_member))
        data[CODE_FIELD] = new_member.code
        data[self._settings.card_field] = card_number
        if profile is None:
            profile_id = await self.add_profile(data)
        else:
            profile_id = profile.id
            await self.update_profile_data(ProfileRef.profile_id(profile_id), data)
        ref = ProfileRef.profile_id(profile_id)
        try:
            await self.register_member(ref, registration_date=dt.datetime.now(dt.UTC))
        except AlreadyExists:
            raise AlreadyExists(f"profile {profile_id} joined the program meanwhile") from None
        if new_member.signup_bonus:
            await self._signup_bonus(profile_id, new_member.signup_bonus)
        return self._member(await self.get_profile(ref))

    async def _adoptable_profile(self, new_member: NewMember) -> Profile | None:
        """A profile already in the database for this phone or email (say, from newsletters)."""
        for ref in (ProfileRef.phone(new_member.phone), ProfileRef.email(new_member.email)):
            profile = await self._profile_or_none(ref)
            if profile is None:
                continue
            if await self._is_member(profile.id):
                raise AlreadyExists(f"a member with this {ref.matching} already exists")
            if profile.text(CODE_FIELD) in ("", new_member.code):
                return profile
        return None

    async def _signup_bonus(self, profile_id: str, points: Decimal) -> None:
        # The eid makes a second credit for the same profile fail with 409 instead of paying twice.
        try:
            await self.accrue_points(
                ProfileRef.profile_id(profile_id),
                points,
                transaction_eid=f"signup-{profile_id}",
                description="Signup bonus",
            )
        except AlreadyExists:
            _log.info("signup bonus for profile %s was credited before", profile_id)

    async def _new_card_number(self) -> str:
        prefix, suffix = self._card.prefix, self._card.suffix
        digits = max(self._card.length - len(prefix) - len(suffix), 4)
        for _ in range(_CARD_ATTEMPTS):
            number = prefix + "".join(secrets.choice("0123456789") for _ in range(digits)) + suffix
            taken = await self._profile_or_none(
                ProfileRef.custom(self._settings.card_field, number)
            )
            if taken is None:
                return number
        raise Rejected("could not find a free card number; make the card format longer")

    async def join_campaign(
        self, code: str, campaign_id: str, bonus: Purchase | None = None
    ) -> None:
        self._check_campaign(campaign_id)
        profile = None
        for ref in self._code_refs(code):
            profile = await self._profile_or_none(ref)
            if profile is not None:
                break
        if profile is None:
            raise NotFound(f"no profile with member code {code!r}")
        with contextlib.suppress(AlreadyExists):
            await self.register_member(ProfileRef.profile_id(profile.id))
        if bonus is not None and bonus.amount:
            await self.accrue_points(
                ProfileRef.profile_id(profile.id), bonus.amount, description=bonus.description
            )

    async def update_profile(self, code: str, changes: ProfileChanges) -> Member:
        member = await self.get_member(code)
        if member is None:
            raise NotFound(f"no member with code {code!r}")
        data = _profile_data(changes)
        updated = await self._with_member(
            self._code_refs(code), lambda ref: self.update_profile_data(ref, data)
        )
        return self._member(await self.get_profile(ProfileRef.profile_id(updated)))

    async def campaigns(self) -> list[Campaign]:
        return [Campaign(id=self.campaign_id, name=self.campaign_name, kind=CampaignKind.POINTS)]

    async def rewards(self, campaign_id: str) -> list[Reward]:
        self._check_campaign(campaign_id)
        return []

    async def balances(self, code: str) -> list[CampaignBalance]:
        balance = await self._with_member(self._code_refs(code), self.account_balance)
        return [self._points_balance(balance.active)]

    async def find_member_with_balances(
        self, card_number: str
    ) -> tuple[Member, list[CampaignBalance]] | None:
        # The profile and the loyalty account are separate calls on Altcraft.
        member = await self.find_member_by_card(card_number)
        if member is None:
            return None
        return member, await self.balances(member.code)

    async def history(self, code: str, *, limit: int = 10, offset: int = 0) -> list[Transaction]:
        transactions = await self._with_member(self._code_refs(code), self._all_transactions)
        newest_first = list(reversed(transactions))[offset : offset + limit]
        return [
            Transaction(
                id=row.transaction_id,
                campaign_id=self.campaign_id,
                at=row.created_at,
                amount=row.amount,
                description=row.description or row.transaction_type,
                is_redemption=row.takes_points,
            )
            for row in newest_first
        ]

    async def _all_transactions(self, ref: ProfileRef) -> list[AccountTransaction]:
        # Altcraft pages oldest first from a cursor; newest-first needs every page.
        collected: list[AccountTransaction] = []
        from_id: str | None = None
        for _ in range(_HISTORY_MAX_PAGES):
            page = await self.account_transactions(ref, from_id=from_id, limit=_HISTORY_PAGE)
            collected.extend(page)
            if len(page) < _HISTORY_PAGE:
                break
            from_id = page[-1].transaction_id
        return collected

    async def record_purchase(self, code: str, purchase: Purchase) -> Receipt:
        self._check_campaign(purchase.campaign_id)
        points = purchase.amount
        if points is None or points <= 0:
            raise Rejected("an Altcraft purchase needs a positive amount: the points to accrue")
        return await self._member_move(code, points, purchase.description, redeem=False)

    async def redeem(self, code: str, redemption: Redemption) -> Receipt:
        self._check_campaign(redemption.campaign_id)
        if redemption.reward_id is not None:
            raise NotFound("Altcraft programs have no rewards; redeem points instead")
        if redemption.amount is not None:
            raise Rejected("Altcraft redeems points, not a money amount")
        points = redemption.points
        if points is None or points <= 0:
            raise Rejected("a redemption needs a positive number of points")
        return await self._member_move(code, points, redemption.description, redeem=True)

    async def _member_move(
        self, code: str, points: Decimal, description: str, *, redeem: bool
    ) -> Receipt:
        """Accrue (a purchase) or redeem ``points`` of the member with ``code``, sent once."""
        operation = await self._move_points(
            self._code_refs(code),
            points,
            redeem=redeem,
            transaction_eid=f"bot-{uuid.uuid4().hex}",
            description=description,
        )
        return self._receipt(
            operation,
            description,
            earned=None if redeem else points,
            deducted=points if redeem else None,
        )

    async def _move_points(
        self,
        refs: Sequence[ProfileRef],
        points: Decimal,
        *,
        redeem: bool,
        transaction_eid: str,
        description: str,
        created_at: dt.datetime | None = None,
    ) -> PointsOperation:
        """Accrue or redeem on the first ref that finds a member (sent once per ref)."""
        operation = self.redeem_points if redeem else self.accrue_points
        return await self._with_member(
            refs,
            lambda ref: operation(
                ref,
                points,
                transaction_eid=transaction_eid,
                description=description,
                created_at=created_at,
            ),
        )

    def _receipt(
        self,
        operation: PointsOperation,
        description: str,
        *,
        earned: Decimal | None = None,
        deducted: Decimal | None = None,
    ) -> Receipt:
        return Receipt(
            transaction_id=operation.transaction_id,
            campaign_id=self.campaign_id,
            campaign_name=self.campaign_name,
            description=description,
            earned=earned,
            deducted=deducted,
            balance=None if operation.balance is None else self._points_balance(operation.balance),
        )

    def _row_ref(self, row: MemberImportRow) -> ProfileRef | None:
        by_matching = {
            AltcraftMatching.EMAIL: ProfileRef.email(row.email) if row.email else None,
            AltcraftMatching.PHONE: ProfileRef.phone(row.phone) if row.phone else None,
            AltcraftMatching.PROFILE_ID: ProfileRef.profile_id(row.code)
            if _PROFILE_ID.fullmatch(row.code)
            else None,
            AltcraftMatching.CUSTOM: ProfileRef.custom(CODE_FIELD, row.code) if row.code else None,
        }
        preferred = by_matching[self._settings.matching]
        if preferred is not None:
            return preferred
        if row.code:
            return ProfileRef.custom(CODE_FIELD, row.code)
        if row.card_number:
            return ProfileRef.custom(self._settings.card_field, row.card_number)
        return by_matching[AltcraftMatching.PHONE] or by_matching[AltcraftMatching.EMAIL]

    def _fitting_chunks(
        self, entries: list[tuple[int, BatchMember]]
    ) -> list[list[tuple[int, BatchMember]]]:
        chunks = [entries[i : i + MAX_BATCH_ROWS] for i in range(0, len(entries), MAX_BATCH_ROWS)]
        fitting: list[list[tuple[int, BatchMember]]] = []
        while chunks:
            chunk = chunks.pop(0)
            _, data = batch_rows_body([member for _, member in chunk])
            size = len(encode_body({"token": self._token, "data": data}, self._format)) + 200
            if size > MAX_BODY_BYTES and len(chunk) > 1:
                half = len(chunk) // 2
                chunks[:0] = [chunk[:half], chunk[half:]]
            else:
                fitting.append(chunk)
        return fitting

    async def import_members(
        self,
        rows: Sequence[MemberImportRow],
        *,
        campaign_ids: Sequence[str],
        on_duplicate: DuplicatePolicy = DuplicatePolicy.IGNORE,
        generate_cards: int | None = None,
    ) -> list[ImportResult]:
        """Each row's profile, found by any of its identifiers or created (``profiles/add``,
        with the card number in ``ALTCRAFT__CARD_FIELD``), then registered in batches of up to
        10,000 (``register_member_batch`` by profile id: ``409`` → already a member).

        A found profile gets the row's card number and code only where it has none: an existing
        profile's fields are never overwritten, so ``on_duplicate`` does not apply, and
        ``generate_cards`` neither (rows without a card number get none). Before anything is
        created the row's profile is looked up, so sending a row again never makes a second
        profile. ``Unavailable``, ``AuthFailed`` and ``ProtocolError`` go through (after every
        row in progress is done), the rest is reported per row.
        """
        for campaign_id in campaign_ids:
            self._check_campaign(campaign_id)
        results: list[ImportResult | None] = [None] * len(rows)
        prepared: list[tuple[int, str, str]] = []
        semaphore = asyncio.Semaphore(_PROFILE_CONCURRENCY)

        async def prepare(index: int, row: MemberImportRow) -> None:
            if not self._profile_refs(row):
                results[index] = _member_result(
                    row,
                    ImportOutcome.INVALID,
                    "no member code, card number, phone or email to find the profile by",
                )
                return
            async with semaphore:
                try:
                    profile_id, note = await self._import_profile(row)
                except (AuthFailed, ProtocolError, Unavailable):
                    raise
                except NotFound as exc:
                    results[index] = _member_result(row, ImportOutcome.NOT_FOUND, exc.message)
                    return
                except AlreadyExists as exc:
                    results[index] = _member_result(row, ImportOutcome.ALREADY_MEMBER, exc.message)
                    return
                except Rejected as exc:
                    results[index] = _member_result(row, ImportOutcome.FAILED, exc.message)
                    return
            prepared.append((index, profile_id, note))

        outcomes = await asyncio.gather(
            *(prepare(index, row) for index, row in enumerate(rows)), return_exceptions=True
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        prepared.sort()
        entries = [
            (index, BatchMember(ProfileRef.profile_id(profile_id)))
            for index, profile_id, _ in prepared
        ]
        notes = {index: note for index, _, note in prepared}
        for chunk in self._fitting_chunks(entries):
            answers = await self.register_member_batch([member for _, member in chunk])
            for (index, _), answer in zip(chunk, answers, strict=True):
                results[index] = await self._member_import_result(
                    rows[index], answer, notes[index]
                )
        return [
            result
            if result is not None
            else _member_result(rows[index], ImportOutcome.FAILED, "no result for this row")
            for index, result in enumerate(results)
        ]

    def _profile_refs(self, row: MemberImportRow) -> list[ProfileRef]:
        """Every way to find the row's profile, the configured matching first."""
        refs: list[ProfileRef] = []
        preferred = self._row_ref(row)
        candidates = [
            preferred,
            ProfileRef.custom(CODE_FIELD, row.code) if row.code else None,
            ProfileRef.custom(self._settings.card_field, row.card_number)
            if row.card_number
            else None,
            ProfileRef.phone(row.phone) if row.phone else None,
            ProfileRef.email(row.email) if row.email else None,
        ]
        for ref in candidates:
            if ref is not None and ref not in refs:
                refs.append(ref)
        return refs

    async def _find_profile(self, row: MemberImportRow) -> Profile | None:
        for ref in self._profile_refs(row):
            profile = await self._profile_or_none(ref)
            if profile is not None:
                return profile
        return None

    async def _import_profile(self, row: MemberImportRow) -> tuple[str, str]:
        """The row's profile id, created if no profile matches, and a note for the report."""
        card_field = self._settings.card_field
        profile = await self._find_profile(row)
        if profile is None:
            data = _profile_data(_given_fields(row))
            if row.code:
                data[CODE_FIELD] = row.code
            if row.card_number:
                data[card_field] = row.card_number
            return await self.add_profile(data), "a new profile"
        changes: dict[str, Any] = {}
        note = ""
        if row.card_number:
            held = profile.text(card_field)
            if not held:
                changes[card_field] = row.card_number
            elif held != row.card_number:
                note = f"the profile keeps its card {held} (the file says {row.card_number})"
        if row.code and not profile.text(CODE_FIELD):
            changes[CODE_FIELD] = row.code
        if changes:
            await self.update_profile_data(ProfileRef.profile_id(profile.id), changes)
        return profile.id, note

    async def preview_members(self, rows: Sequence[MemberImportRow]) -> list[str]:
        """Dry run: per row, what importing it would do that the file does not show
        (``a new profile would be created``), without changing anything."""
        semaphore = asyncio.Semaphore(_PROFILE_CONCURRENCY)

        async def one(row: MemberImportRow) -> str:
            async with semaphore:
                found = await self._find_profile(row)
            return "a new profile would be created" if found is None else ""

        return list(await asyncio.gather(*(one(row) for row in rows)))

    async def _member_import_result(
        self, row: MemberImportRow, answer: BatchRowResult, note: str = ""
    ) -> ImportResult:
        outcomes = {
            0: ImportOutcome.CREATED,
            404: ImportOutcome.NOT_FOUND,
            409: ImportOutcome.ALREADY_MEMBER,
            400: ImportOutcome.INVALID,
        }
        outcome = outcomes.get(answer.error, ImportOutcome.FAILED)
        message = answer.error_text if answer.error else note
        if outcome is ImportOutcome.CREATED and row.signup_bonus and answer.profile_id:
            try:
                await self._signup_bonus(answer.profile_id, row.signup_bonus)
            except LoyaltyError as exc:
                message = f"registered; the signup bonus failed: {exc.message}"
        return ImportResult(
            line=row.line,
            outcome=outcome,
            member_code=row.code or (answer.profile_id or ""),
            message=message,
        )

    async def import_transactions(
        self, rows: Sequence[TransactionImportRow]
    ) -> list[ImportResult]:
        """Accrue or redeem row by row (Altcraft has no batch for points); one result per row.

        Each row carries a transaction eid derived from its content, so importing the same file
        again skips rows already recorded instead of moving points twice. ``Unavailable`` is
        raised, not reported per row: the importer then resends the whole chunk later, and the
        rows that did land come back as "already imported".
        """
        results: list[ImportResult] = []
        for row in rows:
            try:
                results.append(await self._import_transaction(row))
            except AlreadyExists:
                results.append(_row_result(row, ImportOutcome.SKIPPED, "already imported"))
            except NotFound as exc:
                results.append(_row_result(row, ImportOutcome.NOT_FOUND, exc.message))
            except (AuthFailed, ProtocolError, Unavailable):
                raise
            except Rejected as exc:
                results.append(_row_result(row, ImportOutcome.FAILED, exc.message))
        return results

    def import_eid(self, row: TransactionImportRow) -> str:
        """The external id an imported row carries: the same row of the same file, the same id."""
        fingerprint = "|".join(
            str(part)
            for part in (row.line, row.member, row.redeemed, row.amount, row.date, row.description)
        )
        return "import-" + hashlib.sha256(fingerprint.encode()).hexdigest()[:32]

    def _member_refs(self, member: str) -> list[ProfileRef]:
        return [*self._code_refs(member), ProfileRef.custom(self._settings.card_field, member)]

    async def transaction_eids(self, member: str) -> set[str] | None:
        """External ids of the transactions of ``member`` (code or card number), for reconciling
        an import cut off mid-request; ``None`` when no member matches."""
        try:
            transactions = await self._with_member(
                self._member_refs(member), self._all_transactions
            )
        except NotFound:
            return None
        return {row.transaction_eid for row in transactions if row.transaction_eid}

    async def _import_transaction(self, row: TransactionImportRow) -> ImportResult:
        if row.campaign_id != self.campaign_id:
            return _row_result(row, ImportOutcome.INVALID, f"unknown campaign {row.campaign_id!r}")
        points = row.amount
        if points is None or points <= 0:
            return _row_result(row, ImportOutcome.INVALID, "a points row needs a positive amount")
        eid = self.import_eid(row)
        created_at = (
            dt.datetime.combine(row.date, dt.time(12), tzinfo=dt.UTC) if row.date else None
        )
        result = await self._move_points(
            self._member_refs(row.member),
            points,
            redeem=row.redeemed,
            transaction_eid=eid,
            description=row.description,
            created_at=created_at,
        )
        return _row_result(row, ImportOutcome.CREATED, result.transaction_id)


def _member_result(row: MemberImportRow, outcome: ImportOutcome, message: str) -> ImportResult:
    return ImportResult(line=row.line, outcome=outcome, member_code=row.code, message=message)


def _row_result(row: TransactionImportRow, outcome: ImportOutcome, message: str) -> ImportResult:
    return ImportResult(line=row.line, outcome=outcome, member_code=row.member, message=message)


def _given_fields(person: NewMember | MemberImportRow) -> ProfileChanges:
    """The profile fields a new member or an imported row gives (an empty one: not given)."""
    return ProfileChanges(
        first_name=person.first_name or None,
        last_name=person.last_name or None,
        phone=person.phone or None,
        email=person.email or None,
        birthday=person.birthday,
    )


def _profile_data(changes: ProfileChanges) -> dict[str, Any]:
    """Altcraft's profile fields for the given values; ``None`` leaves a field out."""
    data: dict[str, Any] = {}
    if changes.first_name is not None:
        data["_fname"] = changes.first_name
    if changes.last_name is not None:
        data["_lname"] = changes.last_name
    if changes.email is not None:
        data["email"] = changes.email
    if changes.phone is not None:
        data["phones"] = [changes.phone] if changes.phone else []
    if changes.birthday is not None:
        data["_bdate"] = f"{changes.birthday.isoformat()}T00:00:00Z"
    return data


def _date_of(text: str) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        return None
