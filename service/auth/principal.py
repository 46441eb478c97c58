from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    key_id: str
    name: str
    role: str
    enterprise_id: str | None = None
    provider_id: str | None = None
    review_level: str | None = None  # role reviewer: the level of the review chain it acts at
    district: str | None = None  # a district-level reviewer: the one district it sees

    @property
    def is_bureau(self) -> bool:
        return self.role in ("admin", "auditor")


SYSTEM = Principal(key_id="system", name="system", role="admin")
