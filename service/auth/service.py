"""API keys: random, shown once, stored as a SHA-256 digest (the keys carry 256 bits of
entropy, so a slow hash adds nothing); revocable; optionally expiring for rotation."""

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlmodel import Session, select

from service import clock, ids
from service.audit import service as audit_service
from service.auth.models import ApiKey
from service.auth.principal import Principal
from service.errors import FieldError, NotFound, ValidationFailed
from service.registry.models import Enterprise, Provider

KEY_PREFIX = "cvk_"


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def lookup(session: Session, raw: str) -> ApiKey | None:
    key = session.exec(select(ApiKey).where(ApiKey.key_hash == hash_key(raw))).first()
    if key is None or key.revoked_at is not None:
        return None
    if key.expires_at is not None and _aware(key.expires_at) <= clock.now():
        return None
    return key


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=clock.SHANGHAI)


def principal_of(key: ApiKey) -> Principal:
    return Principal(key_id=key.id, name=key.name, role=key.role,
                     enterprise_id=key.enterprise_id, provider_id=key.provider_id)


def create_key(session: Session, *, role: str, name: str, enterprise_id: str | None = None,
               provider_id: str | None = None) -> tuple[ApiKey, str]:
    errors = []
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
                 provider_id=provider_id, key_hash=hash_key(raw), prefix=raw[:10])
    session.add(key)
    session.flush()
    audit_service.record(session, action="api_key.create", object_type="api_key",
                         object_id=key.id, summary={"role": role, "name": name,
                                                    "enterprise_id": enterprise_id,
                                                    "provider_id": provider_id})
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
        audit_service.record(session, action="api_key.revoke", object_type="api_key",
                             object_id=key.id, summary={"grace_seconds": grace_seconds})
    return key
