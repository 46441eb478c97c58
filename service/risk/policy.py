"""The year's risk rules (`risk_rules` in the policy): per rule {enabled, weight, ...thresholds},
with defaults for every rule. Unlike the money rules they stay changeable after the year's first
voucher; each change is a new audited policy version and applies to what comes after it."""

import copy
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, Strict

from service.kit.types import Fen, Flag

SInt = Annotated[int, Strict()]  # "10" or 10.0 is refused, not coerced

Int = Field(default=None, ge=0, le=10**9)
Weight = Field(default=None, ge=0, le=10_000)

DEFAULT_REVIEW_THRESHOLD = 100
DEFAULT_SECOND_REVIEW_THRESHOLD = 150

DEFAULT_RULES: dict[str, dict[str, Any]] = {
    # |unit price − median| > k × MAD, in a (year, category, unit) group of >= min_lines lines.
    # mad_floor_bp: a MAD below this share of the median counts as this share (a group of
    # identical prices would otherwise flag a one-fen difference).
    "unit_price_outlier": {"enabled": True, "weight": 30, "k": 5, "min_lines": 30,
                           "mad_floor_bp": 100, "refresh_seconds": 60,
                           "exact_below_lines": 5000},
    # >= min_invoices invoices of one enterprise and provider issued within window_days of each
    # other, each redeeming less than each_below_fen, together >= share_bp of the cap left.
    "near_cap_split": {"enabled": True, "weight": 40, "window_days": 30, "share_bp": 9000,
                       "min_invoices": 2, "each_below_fen": 50_000_000},
    "shared_contact": {"enabled": True, "weight": 50},
    # established less than `days` before the application window opened
    "new_entity": {"enabled": True, "weight": 20, "days": 180},
    # more than max_per_day invoices of one provider for one enterprise issued on one day
    "burst": {"enabled": True, "weight": 20, "max_per_day": 10},
    # an invoice of at least min_fen whose total is a multiple of unit_fen (10,000 yuan)
    "round_amount": {"enabled": True, "weight": 10, "min_fen": 10_000_000,
                     "unit_fen": 1_000_000},
    # a red-letter reversal clawed back subsidy from a paid settlement this year
    "reversal_after_payout": {"enabled": True, "weight": 30},
    # one provider > share_bp of the enterprise's redeemed subsidy (this redemption included)
    "provider_concentration": {"enabled": True, "weight": 10, "share_bp": 6000},
}


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: Flag | None = None
    weight: SInt | None = Weight


class UnitPriceOutlier(_Rule):
    k: SInt | None = Field(default=None, ge=1, le=1000)
    min_lines: SInt | None = Field(default=None, ge=1, le=10**9)
    mad_floor_bp: SInt | None = Field(default=None, ge=0, le=10_000)
    refresh_seconds: SInt | None = Field(default=None, ge=0, le=86_400)
    exact_below_lines: SInt | None = Int


class NearCapSplit(_Rule):
    window_days: SInt | None = Field(default=None, ge=0, le=366)
    share_bp: SInt | None = Field(default=None, ge=1, le=10_000)
    min_invoices: SInt | None = Field(default=None, ge=2, le=1000)
    each_below_fen: Fen | None = Field(default=None, ge=1, le=10**15)


class NewEntity(_Rule):
    days: SInt | None = Field(default=None, ge=0, le=36_500)


class Burst(_Rule):
    max_per_day: SInt | None = Field(default=None, ge=0, le=10**6)


class RoundAmount(_Rule):
    min_fen: Fen | None = Field(default=None, ge=0, le=10**15)
    unit_fen: Fen | None = Field(default=None, ge=1, le=10**15)


class ProviderConcentration(_Rule):
    share_bp: SInt | None = Field(default=None, ge=0, le=10_000)


class RiskRules(BaseModel):
    """A change to some rules: the fields given replace the current ones, the rest stay."""

    model_config = ConfigDict(extra="forbid")

    unit_price_outlier: UnitPriceOutlier | None = None
    near_cap_split: NearCapSplit | None = None
    shared_contact: _Rule | None = None
    new_entity: NewEntity | None = None
    burst: Burst | None = None
    round_amount: RoundAmount | None = None
    reversal_after_payout: _Rule | None = None
    provider_concentration: ProviderConcentration | None = None


def effective(stored: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Every rule with every setting: the defaults overlaid with what the year stores."""
    rules = copy.deepcopy(DEFAULT_RULES)
    for rule, settings in (stored or {}).items():
        if rule in rules and isinstance(settings, dict):
            rules[rule].update({k: v for k, v in settings.items() if k in rules[rule]})
    return rules


def merged(current: dict[str, Any] | None, change: Any) -> dict[str, dict[str, Any]]:
    """The rules after a change (a RiskRules dump without the unset fields)."""
    rules = effective(current)
    for rule, settings in (change or {}).items():
        if settings:
            rules[rule].update({k: v for k, v in settings.items() if v is not None})
    return rules
