from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    key_id: str
    name: str
    role: str
    enterprise_id: str | None = None
    provider_id: str | None = None

    @property
    def is_bureau(self) -> bool:
        return self.role in ("admin", "auditor")


SYSTEM = Principal(key_id="system", name="system", role="admin")
