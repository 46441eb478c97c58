"""The per-client rate limit (service/ratelimit) on a session, on both databases: exactly at the
limit and one more, the next window, Retry-After, separate clients and buckets, and a refused
hit not kept."""

from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from service.kit import clock
from service.kit.config import get_settings
from service.ratelimit.models import RateWindow
from service.ratelimit.service import RateLimited, client_address, take, window_start
from tests.makers import write

START = datetime(2026, 12, 7, 10, 0, 0, tzinfo=clock.SHANGHAI)


@pytest.fixture
def at(monkeypatch):
    moment = [START]
    monkeypatch.setattr(clock, "now", lambda: moment[0])
    return moment


def hit(engine, client="203.0.113.7", bucket="objection", limit=5, window_s=3600):
    write(engine, lambda s: take(s, bucket=bucket, client=client, limit=limit,
                                 window_s=window_s))


def hits_kept(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.coalesce(func.sum(RateWindow.hits), 0))).scalar_one()


def test_the_limit_is_reached_exactly_and_one_more_is_refused(engine, at):
    for _ in range(5):
        hit(engine)
    with pytest.raises(RateLimited) as refused:
        hit(engine)
    assert refused.value.status == 429 and refused.value.code == "rate_limited"
    assert refused.value.retry_after == 3601  # the window opened this very second
    assert hits_kept(engine) == 5


def test_retry_after_counts_down_to_the_next_window_which_admits_again(engine, at):
    for _ in range(5):
        hit(engine)
    at[0] = START + timedelta(minutes=59, seconds=30)
    with pytest.raises(RateLimited) as refused:
        hit(engine)
    assert refused.value.retry_after == 31
    at[0] = START + timedelta(hours=1)
    hit(engine)
    assert hits_kept(engine) == 6


def test_clients_and_buckets_are_counted_apart(engine, at):
    for _ in range(2):
        hit(engine, limit=2)
    hit(engine, client="198.51.100.1", limit=2)
    hit(engine, bucket="awards", limit=2)
    with pytest.raises(RateLimited):
        hit(engine, limit=2)


def test_old_windows_are_deleted_as_new_ones_open(engine, at):
    hit(engine, window_s=60)
    at[0] = START + timedelta(minutes=10)
    hit(engine, window_s=60)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(RateWindow)).scalar_one() == 1


def test_windows_are_aligned_to_whole_multiples_of_their_length():
    assert window_start(START + timedelta(minutes=17, seconds=5), 3600) == START
    assert window_start(START + timedelta(seconds=59), 60) == START


def request(peer, forwarded=None):
    headers = {"x-forwarded-for": forwarded} if forwarded else {}
    return SimpleNamespace(client=SimpleNamespace(host=peer), headers=headers)


def test_forwarded_for_is_read_only_from_a_trusted_proxy(monkeypatch):
    monkeypatch.setattr(get_settings(), "trusted_proxies", "10.0.0.0/8")
    assert client_address(request("10.1.2.3", "198.51.100.9, 10.0.0.5")) == "198.51.100.9"
    assert client_address(request("203.0.113.7", "198.51.100.9")) == "203.0.113.7"
    assert client_address(request("10.1.2.3", "not-an-ip, 10.0.0.5")) == "not-an-ip"
    assert client_address(request("10.1.2.3")) == "10.1.2.3"
    monkeypatch.setattr(get_settings(), "trusted_proxies", "")
    assert client_address(request("10.1.2.3", "198.51.100.9")) == "10.1.2.3"
    assert client_address(SimpleNamespace(client=None, headers={})) == "unknown"
