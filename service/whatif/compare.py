"""Comparing scenarios (docs/what-if.md): results (their groups, winners and losers and
concentration from figures.py), the plain-language summaries, and the cache keyed by the year's
data version."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections import OrderedDict
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import date
from multiprocessing import get_context
from typing import Any

from sqlalchemy import text
from sqlmodel import Session, select

from service.kit import catalogue, ids
from service.audit import service as audit
from service.audit.models import AuditChainHead
from service.kit.errors import NotFound
from service.kit.money import format_yuan
from service.whatif import figures, replay, state
from service.whatif.figures import bucket, gini_bp, permille, top10_share_bp
from service.whatif.models import Scenario
from service.whatif.schemas import ScenarioCreate
from service.years.service import get_year

log = logging.getLogger(__name__)
# Part of every cache key: a change to the replay's rules must never serve an old result.
CODE_VERSION = "whatif-1"
PARAMETERS = ("pool_fen", "rate_bp", "category_rates_bp", "enterprise_cap_fen",
              "eligible_categories", "settlement_mode", "eligible_from", "invoice_growth_bp")
BUCKETS = ("lose_more_5", "lose_less_5", "no_change", "gain_less_5", "gain_more_5")


# --- stored scenarios -----------------------------------------------------------------------

def to_public(row: Scenario) -> dict:
    return {"id": row.id, "year": row.year, "name": row.name, "overrides": dict(row.overrides),
            "include_unredeemed": row.include_unredeemed, "vouchers": row.vouchers,
            "created_at": row.created_at, "created_by": row.created_by}


def _overrides_json(body: ScenarioCreate) -> dict:
    return body.overrides.model_dump(mode="json", exclude_none=True)


def create(session: Session, year: int, body: ScenarioCreate, created_by: str | None) -> dict:
    get_year(session, year)
    row = Scenario(id=ids.new_id("scn"), year=year, name=body.name,
                   overrides=_overrides_json(body), include_unredeemed=body.include_unredeemed,
                   vouchers=body.vouchers, created_by=created_by)
    session.add(row)
    session.flush()
    audit.record(session, action="scenario.create", object_type="scenario", object_id=row.id,
                 summary={"year": year, "name": row.name, "overrides": row.overrides,
                          "include_unredeemed": row.include_unredeemed,
                          "vouchers": row.vouchers})
    return to_public(row)


def get(session: Session, year: int, scenario_id: str) -> Scenario:
    get_year(session, year)
    row = session.get(Scenario, scenario_id)
    if row is None or row.year != year:
        raise NotFound(f"no scenario {scenario_id} in {year}")
    return row


def list_for(session: Session, year: int) -> list[Scenario]:
    get_year(session, year)
    return list(session.exec(select(Scenario).where(Scenario.year == year)
                             .order_by(Scenario.id)))


# --- the data version -----------------------------------------------------------------------

# One scan per table: every counter a redemption, payment, reversal, clawback, voucher or
# registry change moves.
_FINGERPRINT = """
SELECT *, (SELECT policy_version FROM budget_year WHERE year = :y),
 (SELECT status FROM budget_year WHERE year = :y) FROM
 (SELECT COUNT(*), COALESCE(SUM(subsidy_fen), 0), COALESCE(SUM(clawed_back_fen), 0), MAX(id)
    FROM redemption WHERE year = :y) r,
 (SELECT COUNT(*), MAX(id) FROM invoice_payment) p,
 (SELECT COUNT(*), MAX(id) FROM invoice_reversal) x,
 (SELECT COUNT(*), MAX(id) FROM invoice) i,
 (SELECT COUNT(*), COALESCE(SUM(balance_fen), 0), COUNT(revoked_at) FROM voucher
    WHERE year = :y) v,
 (SELECT COUNT(*) FROM approved_provider WHERE year = :y) a,
 (SELECT COUNT(*), COUNT(CASE WHEN credit_blocked THEN 1 END) FROM enterprise) e,
 (SELECT COUNT(*) FROM other_subsidy) o,
 (SELECT COUNT(*) FROM related_party) rp
"""


def data_version(session: Session, year: int) -> str:
    """What the year's figures were computed on: a digest of the counters every redemption,
    payment, reversal, clawback, voucher or registry change moves (read from the database on
    each compare, so any worker knows when its cached result went stale)."""
    row = session.connection().execute(text(_FINGERPRINT), {"y": year}).one()
    digest = hashlib.sha256(json.dumps([str(v) for v in row]).encode()).hexdigest()
    return f"{year}-{digest[:20]}"


def audit_head(session: Session) -> tuple[int, str]:
    head = session.exec(select(AuditChainHead).order_by(AuditChainHead.id).limit(1)).first()
    return (head.last_seq, head.last_hash) if head else (0, "")


# --- caches (per process; keys carry the data version, so a stale entry is never hit) -----

_lock = threading.Lock()
_results: OrderedDict[str, dict] = OrderedDict()
_data: dict[str, Any] = {}
RESULTS_KEPT = 32


def _cache_get(key: str) -> dict | None:
    with _lock:
        value = _results.get(key)
        if value is not None:
            _results.move_to_end(key)
        return value


def _cache_put(key: str, value: dict) -> None:
    with _lock:
        _results[key] = value
        while len(_results) > RESULTS_KEPT:
            _results.popitem(last=False)


def _year_data(session: Session, budget: Any, version: str, unclaimed: bool) -> replay.YearData:
    key = f"{version}|{unclaimed}|{CODE_VERSION}"
    with _lock:
        if _data.get("key") == key:
            return _data["value"]
    data = replay.load(session, budget, unclaimed=unclaimed)
    with _lock:  # one year's arrays at a time: bounded memory
        _data.clear()
        _data.update(key=key, value=data)
    return data


def clear_caches() -> None:
    with _lock:
        _results.clear()
        _data.clear()


# --- the comparison -------------------------------------------------------------------------

class Spec:
    """A scenario to compute: stored or inline, or the actual year."""

    def __init__(self, name: str, overrides: dict, include_unredeemed: bool, vouchers: str,
                 scenario_id: str | None = None, actual: bool = False):
        self.name, self.overrides, self.include_unredeemed = name, overrides, include_unredeemed
        self.vouchers, self.scenario_id, self.actual = vouchers, scenario_id, actual

    def key(self) -> list:
        return [self.actual, self.overrides, self.include_unredeemed, self.vouchers, self.name,
                self.scenario_id]


def _spec(session: Session, year: int, item: Any) -> Spec:
    if isinstance(item, str):
        row = get(session, year, item)
        return Spec(row.name, dict(row.overrides), row.include_unredeemed, row.vouchers,
                    scenario_id=row.id)
    return Spec(item.name, _overrides_json(item), item.include_unredeemed, item.vouchers)


def parameters(base: dict, spec: Spec) -> dict:
    out = {p: base.get(p) for p in PARAMETERS if p != "invoice_growth_bp"}
    out["invoice_growth_bp"] = 0
    out.update(spec.overrides)
    if isinstance(out["eligible_from"], date):
        out["eligible_from"] = out["eligible_from"].isoformat()
    out["category_rates_bp"] = dict(out["category_rates_bp"] or {})
    out["eligible_categories"] = list(out["eligible_categories"] or [])
    out["vouchers"], out["include_unredeemed"] = spec.vouchers, spec.include_unredeemed
    return out


def compare(session: Session, year: int, baseline: Any, scenarios: list, group_by: str) -> dict:
    from service.years.service import policy_of

    budget = get_year(session, year)

    actual_policy = policy_of(budget)
    base = (Spec("actual", {}, False, "as_issued", actual=True) if baseline == "actual"
            else _spec(session, year, baseline))
    specs = [_spec(session, year, s) for s in scenarios]
    version = data_version(session, year)
    seq, head_hash = audit_head(session)
    key = hashlib.sha256(json.dumps([CODE_VERSION, version, group_by, base.key(),
                                     [s.key() for s in specs]], sort_keys=True,
                                    default=str).encode()).hexdigest()
    cached = _cache_get(key)
    if cached is not None:
        return {**cached, "cached": True}
    need_unclaimed = any(s.include_unredeemed for s in [base, *specs])
    return _compare(data_args=(session, budget, version, need_unclaimed), key=key,
                    year=year, base=base, specs=specs, group_by=group_by,
                    actual_policy=actual_policy, version=version, seq=seq,
                    head_hash=head_hash)


def _compare(*, data_args: tuple, key: str, year: int, base: Spec, specs: list, group_by: str,
             actual_policy: dict, version: str, seq: int, head_hash: str) -> dict:
    data = _year_data(*data_args)
    base_policy = state.scenario_policy(actual_policy, year, base.overrides)
    base_outcome = figures.outcome_of(data, base, base_policy)
    base_params = parameters(actual_policy, base)
    base_totals = figures.enterprise_totals(data, base_outcome)
    base_groups = figures.groups(data, base_outcome, base_policy, base.overrides, group_by,
                                 base_totals)
    baseline_result = _result(data, base, base_params, base_policy, base_outcome, base_totals,
                              base_totals, base_groups, base_groups, base_params, None)

    replay.claim_keys(data)  # shared by the replays: computed once, before they start
    replay.day_slices(data)
    context = _Context(data, actual_policy, year, group_by, base_totals, base_groups,
                       base_params, baseline_result)
    results = _map(context, specs, parallel=data.claims >= PARALLEL_MIN_CLAIMS)
    answer = {"year": year, "data_version": version, "audit_head_seq": seq,
              "audit_head_hash": head_hash, "code_version": CODE_VERSION, "group_by": group_by,
              "baseline": baseline_result, "scenarios": results}
    _cache_put(key, answer)
    return {**answer, "cached": False}


@dataclass(frozen=True)
class _Context:
    """What every scenario of one compare is replayed against (picklable: it is sent whole to
    a replay process)."""

    data: replay.YearData
    actual_policy: dict
    year: int
    group_by: str
    base_totals: dict
    base_groups: dict
    base_params: dict
    baseline: dict


def _scenario(context: _Context, spec: Spec) -> dict:
    c, data = context, context.data
    policy = state.scenario_policy(c.actual_policy, c.year, spec.overrides)
    outcome = figures.outcome_of(data, spec, policy)
    totals = figures.enterprise_totals(data, outcome)
    groups = figures.groups(data, outcome, policy, spec.overrides, c.group_by, totals)
    return _result(data, spec, parameters(c.actual_policy, spec), policy, outcome, totals,
                   c.base_totals, groups, c.base_groups, c.base_params, c.baseline)


def _scenarios(context: _Context, specs: list[Spec]) -> list[dict]:
    return [_scenario(context, spec) for spec in specs]


def _cost(spec: Spec) -> int:
    """A scenario's replay time, roughly: drawing vouchers as issued costs about four times
    following the cap (bench/PROFILE.md)."""
    return 1 if spec.vouchers == "follow_cap" else 4


# A compare of a year with at least this many redemptions replays its scenarios in a pool of
# processes of its own (one per core beside the compare's thread); below it, sending the
# year's arrays costs more than the second core saves.
PARALLEL_MIN_CLAIMS = 200_000
_replayers: list[ProcessPoolExecutor] = []


def _replay_pool(workers: int) -> ProcessPoolExecutor:
    """Started on first use with the spawn method: a fork of this threaded server would copy
    whatever lock another thread held at that instant."""
    with _lock:
        if not _replayers:
            _replayers.append(ProcessPoolExecutor(max_workers=workers,
                                                  mp_context=get_context("spawn")))
        return _replayers[0]


def _map(context: _Context, specs: list[Spec], *, parallel: bool) -> list[dict]:
    """The scenarios' results, in order; when parallel, spread over the machine's cores: the
    scenarios, costliest first, each to the least loaded of one group per core; this thread
    computes the first group, the replay pool each other one (the context sent pickled). A
    group the pool fails on is computed again here, so the answer never depends on the pool."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
        (os.cpu_count() or 1)
    workers = min(len(specs), cores)
    if not parallel or workers < 2:
        return _scenarios(context, specs)
    loads, groups = [0] * workers, [[] for _ in range(workers)]
    for i in sorted(range(len(specs)), key=lambda i: -_cost(specs[i])):
        w = loads.index(min(loads))
        groups[w].append(i)
        loads[w] += _cost(specs[i])
    pending = []
    for group in groups[1:]:
        try:
            future = _replay_pool(cores - 1).submit(_scenarios, context,
                                                    [specs[i] for i in group])
        except Exception:  # noqa: BLE001 - a pool that cannot start: computed here
            log.warning("the replay pool did not take a group", exc_info=True)
            future = None
        pending.append((group, future))
    results = dict(zip(groups[0], _scenarios(context, [specs[i] for i in groups[0]])))
    for group, future in pending:
        try:
            answers = future.result() if future is not None else None
        except Exception as exc:  # noqa: BLE001 - computed again here
            log.warning("a replay process failed; computing its scenarios here", exc_info=True)
            if isinstance(exc, BrokenProcessPool):  # the next compare starts a new pool
                with _lock:
                    _replayers.clear()
            answers = None
        results.update(zip(group, answers or _scenarios(context, [specs[i] for i in group])))
    return [results[i] for i in range(len(specs))]


def _curve(data: replay.YearData, outcome: Any) -> list[dict]:
    by_day = figures.day_totals(data, outcome)
    running, points = 0, []
    for day in sorted(by_day):
        if not by_day[day]:
            continue
        running += by_day[day]
        points.append({"date": date.fromordinal(day).isoformat(), "cumulative_fen": running})
    return points


def _result(data, spec: Spec, params: dict, policy: Any, outcome: Any, totals: dict,
            base_totals: dict, groups: dict, base_groups: dict, base_params: dict,
            baseline: dict | None) -> dict:
    population = set(totals) | set(base_totals)
    values = [totals.get(e, 0) for e in population]
    total = sum(outcome.granted)
    buckets = dict.fromkeys(BUCKETS, 0)
    if baseline is not None:
        for e in population:
            buckets[bucket(totals.get(e, 0), base_totals.get(e, 0))] += 1
    cap = policy.enterprise_cap_fen
    at_cap = set(outcome.capped) | {e for e, v in totals.items() if cap > 0 and v >= cap}
    rows = []
    labels = dict(zip(data.enterprises, data.names))
    for key in sorted(set(groups) | set(base_groups)):
        new = groups.get(key, 0) if baseline is not None else base_groups.get(key, 0)
        old = base_groups.get(key, 0)
        rows.append({"key": key, "label": labels.get(key), "baseline_fen": old,
                     "scenario_fen": new, "diff_fen": new - old,
                     "diff_permille": permille(new, old)})
    pool = policy.pool_fen
    result = {
        "name": spec.name, "scenario_id": spec.scenario_id, "parameters": params,
        "vouchers": spec.vouchers, "include_unredeemed": spec.include_unredeemed,
        "total_subsidy_fen": total, "pool_fen": pool,
        "pool_use_bp": 10_000 * total // pool if pool > 0 else 0,
        "redemptions_count": outcome.granted_count, "refused_count": outcome.refused_count,
        "refused_fen": outcome.refused_fen,
        "pool_exhausted_on": outcome.pool_exhausted_on.isoformat()
        if outcome.pool_exhausted_on else None,
        "enterprises_at_cap": len(at_cap), "top10_share_bp": top10_share_bp(values),
        "gini_bp": gini_bp(values), "buckets": buckets, "groups": rows,
        "curve": _curve(data, outcome)}
    base_total = baseline["total_subsidy_fen"] if baseline else total
    result["summary_zh"], result["summary_en"] = summaries(
        result, base_params if baseline else params, baseline["name"] if baseline else None,
        base_total)
    return result


# --- the plain-language summaries -----------------------------------------------------------

def _word(lang: str, value: Any) -> str:
    """A category or mode code in words (the catalogue's "whatif.word.<code>"), else the code."""
    key = f"whatif.word.{value}"
    return catalogue.say(lang, key) if catalogue.has(lang, key) else str(value)


def _show(field_name: str, value: Any, lang: str) -> str:
    if value is None:
        return "—"
    if field_name.endswith("_fen"):  # in yuan, as people read money (issue 21)
        return f"¥{format_yuan(value)}"
    if field_name.endswith("_bp") and isinstance(value, int):
        return catalogue.say(lang, "whatif.summary.bp", bp=value, percent=f"{value / 100:.2f}")
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {v} bp" for k, v in sorted(value.items())) + "}" \
            if value else catalogue.say(lang, "whatif.summary.none")
    if isinstance(value, list):
        return catalogue.say(lang, "whatif.summary.list_sep").join(_word(lang, v) for v in value)
    if field_name in ("settlement_mode", "vouchers"):
        return _word(lang, value)
    if isinstance(value, bool):
        return catalogue.say(lang, "whatif.summary.yes" if value else "whatif.summary.no")
    return str(value)


def changes(old: dict, new: dict) -> list[tuple[str, Any, Any]]:
    return [(f, old.get(f), new.get(f)) for f in (*PARAMETERS, "vouchers", "include_unredeemed")
            if _norm(old.get(f)) != _norm(new.get(f))]


def _norm(value: Any) -> Any:
    return sorted(value) if isinstance(value, list) else value


def summaries(result: dict, base_params: dict, baseline_name: str | None,
              base_total: int) -> tuple[str, str]:
    """The result in a sentence, in Chinese and English (the catalogue's "whatif.summary.*")."""
    zh, en = (_summary(lang, result, base_params, baseline_name, base_total)
              for lang in catalogue.LANGUAGES)
    return zh, en


def _summary(lang: str, result: dict, base_params: dict, baseline_name: str | None,
             base_total: int) -> str:
    new = {**result["parameters"], "vouchers": result["vouchers"],
           "include_unredeemed": result["include_unredeemed"]}
    old = {**base_params, "vouchers": base_params.get("vouchers", "as_issued"),
           "include_unredeemed": base_params.get("include_unredeemed", False)}
    name, total = result["name"], result["total_subsidy_fen"]
    if baseline_name is None:
        return catalogue.say(lang, "whatif.summary.baseline", name=name,
                             total=_show("total_fen", total, lang),
                             count=result["redemptions_count"],
                             pool_use=f"{result['pool_use_bp'] / 100:.2f}")
    changed = [catalogue.say(lang, "whatif.summary.change",
                             parameter=catalogue.say(lang, f"whatif.param.{f}"),
                             old=_show(f, a, lang), new=_show(f, b, lang))
               for f, a, b in changes(old, new)]
    diff, pm, b = total - base_total, permille(total, base_total), result["buckets"]
    # The year as it ran is the baseline named "actual": in words.
    baseline = catalogue.say(lang, "whatif.summary.actual") if baseline_name == "actual" \
        else baseline_name
    return catalogue.say(
        lang, "whatif.summary.runs_out" if result["pool_exhausted_on"] else "whatif.summary.lasts",
        name=name, baseline=baseline,
        changes=catalogue.say(lang, "whatif.summary.change_sep").join(changed)
        or catalogue.say(lang, "whatif.summary.same"),
        before=_show("total_fen", base_total, lang), after=_show("total_fen", total, lang),
        diff=f"{'+' if diff >= 0 else '-'}¥{format_yuan(abs(diff))}",
        permille=f"{pm}‰" if pm is not None else "—",
        exhausted_on=result["pool_exhausted_on"], refused_count=result["refused_count"],
        refused=_show("refused_fen", result["refused_fen"], lang),
        at_cap=result["enterprises_at_cap"], winners=b["gain_less_5"] + b["gain_more_5"],
        losers=b["lose_less_5"] + b["lose_more_5"], unchanged=b["no_change"])
