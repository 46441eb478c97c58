"""Every table model, imported in one place so Alembic and the tests see the whole schema."""

from service.alerts.models import BudgetAlert, WebhookDelivery
from service.audit.models import AuditChainHead, AuditCheckpoint, AuditEvent
from service.auth.models import ApiKey, KeyRevocationCounter
from service.holds.models import Hold, HoldDraw
from service.idempotency_models import IdempotencyRecord
from service.invoices.models import (
    Invoice,
    InvoiceLine,
    InvoicePayment,
    InvoiceReversal,
    UsageStatement,
)
from service.invoices.source_models import InvoiceSource, ItemCategoryRule
from service.ledger.models import LedgerAccount, LedgerTransfer
from service.notices.models import BarredInvoice, Objection, ObjectionLine
from service.ratelimit.models import RateWindow
from service.redemptions.models import Clawback, Redemption, RedemptionDraw
from service.registry.models import (
    ApprovedProvider,
    Enterprise,
    OtherSubsidy,
    Provider,
    RelatedParty,
)
from service.reporting.models import (
    ReconciliationAccountTotal,
    ReconciliationWatermark,
    RedemptionPartyTotal,
    TransferRollup,
)
from service.reviewchain.models import ReviewStep
from service.risk.models import Review, ReviewDecision, RiskFlag, RiskPriceStat, RiskStatsState
from service.settlements.models import Settlement, SettlementLine
from service.vouchers.models import Application, EnterpriseYear, Voucher
from service.web.models import StoredWebSession
from service.whatif.models import Scenario
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
                                     "Hold", "HoldDraw",
                                     "EnterpriseYear",
                                     "IdempotencyRecord",
                                     "Invoice",
                                     "InvoiceLine",
                                     "InvoicePayment",
                                     "InvoiceReversal",
                                     "InvoiceSource",
                                     "ItemCategoryRule",
                                     "KeyRevocationCounter",
                                     "LedgerAccount",
                                     "LedgerTransfer",
                                     "BarredInvoice", "Objection", "ObjectionLine",
                                     "OtherSubsidy",
                                     "PolicyVersion",
                                     "Provider",
                                     "RateWindow",
                                     "Redemption",
                                     "RedemptionDraw",
                                     "ReconciliationAccountTotal",
                                     "ReconciliationWatermark",
                                     "RedemptionPartyTotal",
                                     "RelatedParty",
                                     "ReviewStep",
                                     "Scenario",
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
