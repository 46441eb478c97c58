"""API keys: random, shown once, stored as a SHA-256 digest (the keys carry 256 bits of
entropy, so a slow hash adds nothing); revocable; optionally expiring for rotation."""

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlmodel import Session, select

from service.kit import clock, ids
from service.audit import service as audit_service
from service.auth.models import ApiKey, KeyRevocationCounter
from service.auth.principal import Principal
from service.kit.errors import FieldError, NotFound, ValidationFailed
from service.registry.models import Enterprise, Provider

KEY_PREFIX = "cvk_"
# The ASGI scope entry by which the web pages' in-process API calls name the signed-in key
# (service/web/apiclient.py). A scope is built by the server, never from request bytes, so no
# client can set it; a header could be forged.
IN_PROCESS_KEY_ID = "voucher.in_process_key_id"


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def lookup(session: Session, raw: str) -> ApiKey | None:
    return find_by_digest(session, hash_key(raw))


def find_by_digest(session: Session, digest: str) -> ApiKey | None:
    """The usable key with this digest: not revoked, not past its expiry."""
    key = session.exec(select(ApiKey).where(ApiKey.key_hash == digest)).first()
    return key if key is not None and usable(key) else None


def find_by_id(session: Session, key_id: str) -> ApiKey | None:
    """The usable key with this id, for callers that hold the id and not the key: the web pages
    (a signed-in session keeps only its key's id) calling the API in-process."""
    key = session.get(ApiKey, key_id)
    return key if key is not None and usable(key) else None


def usable(key: ApiKey) -> bool:
    expires_at = expiry_of(key)
    return key.revoked_at is None and (expires_at is None or expires_at > clock.now())


def expiry_of(key: ApiKey) -> datetime | None:
    if key.expires_at is None:
        return None
    # SQLite hands timestamps back without their offset; they were written in Shanghai time.
    return key.expires_at if key.expires_at.tzinfo else \
        key.expires_at.replace(tzinfo=clock.SHANGHAI)


def principal_of(key: ApiKey) -> Principal:
    return Principal(key_id=key.id, name=key.name, role=key.role,
                     enterprise_id=key.enterprise_id, provider_id=key.provider_id,
                     review_level=key.review_level, district=key.district)


def create_key(session: Session, *, role: str, name: str, enterprise_id: str | None = None,
               provider_id: str | None = None, review_level: str | None = None,
               district: str | None = None,
               expires_in_days: int | None = None) -> tuple[ApiKey, str]:
    errors = []
    if expires_in_days is not None and not 1 <= expires_in_days <= 3650:
        errors.append(FieldError(field="expires_in_days", message="between 1 and 3650 days"))
    if role == "reviewer":
        if not review_level:
            errors.append(FieldError(field="review_level", message="required for role reviewer"))
        elif review_level == "district" and not district:
            errors.append(FieldError(field="district",
                                     message="required for a district-level reviewer"))
        elif review_level != "district" and district:
            errors.append(FieldError(field="district",
                                     message="only for a district-level reviewer"))
    elif review_level or district:
        errors.append(FieldError(field="review_level" if review_level else "district",
                                 message="only for role reviewer"))
    if role == "enterprise":
        if not enterprise_id:
            errors.append(FieldError(field="enterprise_id", message="required for role enterprise"))
        elif session.get(Enterprise, enterprise_id) is None:
            raise NotFound(f"no enterprise {enterprise_id}")
    elif enterprise_id:
        errors.append(FieldError(field="enterprise_id", message="only for role enterprise"))
    if role == "provider":
        if not provider_id:
            errors.append(FieldError(field="provider_id", message="required for role provider"))
        elif session.get(Provider, provider_id) is None:
            raise NotFound(f"no provider {provider_id}")
    elif provider_id:
        errors.append(FieldError(field="provider_id", message="only for role provider"))
    if errors:
        raise ValidationFailed("; ".join(f"{e.field}: {e.message}" for e in errors), errors=errors)
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(id=ids.new_id("key"), name=name, role=role, enterprise_id=enterprise_id,
                 provider_id=provider_id, review_level=review_level, district=district,
                 key_hash=hash_key(raw), prefix=raw[:10],
                 expires_at=clock.now() + timedelta(days=expires_in_days)
                 if expires_in_days else None)
    session.add(key)
    session.flush()
    audit_service.record(session, action="api_key.create", object_type="api_key",
                         object_id=key.id, summary={"role": role, "name": name,
                                                    "enterprise_id": enterprise_id,
                                                    "provider_id": provider_id,
                                                    **({"review_level": review_level,
                                                        "district": district}
                                                       if role == "reviewer" else {})})
    return key, raw


def revoke_key(session: Session, *, key_id: str, grace_seconds: int = 0) -> ApiKey:
    """Revoke now, or after a grace period so a rotated key keeps working until clients switch."""
    key = session.get(ApiKey, key_id, with_for_update=True)
    if key is None:
        raise NotFound(f"no API key {key_id}")
    if key.revoked_at is None:
        if grace_seconds > 0:
            key.expires_at = clock.now() + timedelta(seconds=grace_seconds)
        else:
            key.revoked_at = clock.now()
        session.add(key)
        _count_revocation(session)
        audit_service.record(session, action="api_key.revoke", object_type="api_key",
                             object_id=key.id, summary={"grace_seconds": grace_seconds})
    return key


def revoke_named(session: Session, *, role: str, name: str) -> list[str]:
    """Revoke every unrevoked key of this role and name (`voucher create-key --replace`, which
    `make run` uses so that each run leaves one working key, not one more)."""
    stmt = select(ApiKey.id).where(ApiKey.role == role, ApiKey.name == name,
                                   ApiKey.revoked_at.is_(None)).order_by(ApiKey.id)
    ids_ = list(session.exec(stmt).all())
    for key_id in ids_:
        revoke_key(session, key_id=key_id)
    return ids_


def _count_revocation(session: Session) -> None:
    """Moves the counter every process watches (KeyCache.follow_revocations). An upsert, so a
    database whose counter row is missing (emptied tables) counts from there."""
    session.execute(text(
        "INSERT INTO api_key_revocation_counter (id, revocations) VALUES (1, 1) "
        "ON CONFLICT (id) DO UPDATE "
        "SET revocations = api_key_revocation_counter.revocations + 1"))


def revocation_count(session: Session) -> int:
    counter = session.get(KeyRevocationCounter, 1)
    return counter.revocations if counter is not None else 0
