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

    def can_see(self, enterprise_id: str | None = None, provider_id: str | None = None) -> bool:
        """The one scoping rule: the bureau sees everything, a party sees what names it."""
        if self.is_bureau:
            return True
        if self.role == "enterprise":
            return enterprise_id is not None and enterprise_id == self.enterprise_id
        return self.role == "provider" and provider_id is not None and \
            provider_id == self.provider_id


SYSTEM = Principal(key_id="system", name="system", role="admin")
