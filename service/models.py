"""Every table model, imported in one place so Alembic and the tests see the whole schema."""

from service.alerts.models import BudgetAlert, WebhookDelivery
from service.audit.models import AuditChainHead, AuditCheckpoint, AuditEvent
from service.auth.models import ApiKey, KeyRevocationCounter
from service.idempotency_models import IdempotencyRecord
from service.invoices.models import (
    Invoice,
    InvoiceLine,
    InvoicePayment,
    InvoiceReversal,
    UsageStatement,
)
from service.ledger.models import LedgerAccount, LedgerTransfer
from service.redemptions.models import Clawback, Redemption, RedemptionDraw
from service.registry.models import (
    ApprovedProvider,
    Enterprise,
    OtherSubsidy,
    Provider,
    RelatedParty,
)
from service.reporting.models import RedemptionPartyTotal, TransferRollup
from service.risk.models import Review, ReviewDecision, RiskFlag, RiskPriceStat, RiskStatsState
from service.settlements.models import Settlement, SettlementLine
from service.vouchers.models import Application, EnterpriseYear, Voucher
from service.web.models import StoredWebSession
from service.years.models import BudgetYear, PolicyVersion

__all__ = [
                                     "ApiKey",
                                     "Application",
                                     "ApprovedProvider",
                                     "AuditChainHead",
                                     "AuditCheckpoint",
                                     "AuditEvent",
                                     "BudgetAlert",
                                     "BudgetYear",
                                     "Clawback",
                                     "Enterprise",
                                     "EnterpriseYear",
                                     "IdempotencyRecord",
                                     "Invoice",
                                     "InvoiceLine",
                                     "InvoicePayment",
                                     "InvoiceReversal",
                                     "KeyRevocationCounter",
                                     "LedgerAccount",
                                     "LedgerTransfer",
                                     "OtherSubsidy",
                                     "PolicyVersion",
                                     "Provider",
                                     "Redemption",
                                     "RedemptionDraw",
                                     "RedemptionPartyTotal",
                                     "RelatedParty",
                                     "Settlement",
                                     "SettlementLine",
                                     "StoredWebSession",
                                     "TransferRollup",
                                     "UsageStatement",
                                     "Voucher",
                                     "WebhookDelivery",
                                     "Review", "ReviewDecision", "RiskFlag", "RiskPriceStat",
                                     "RiskStatsState",
]
