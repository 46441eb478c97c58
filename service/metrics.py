"""Prometheus text exposition without a client library: request counters and latency
histograms by route and status, plus business gauges computed when scraped."""

import threading
from collections import defaultdict

from service.kit.replica import REASONS as REPLICA_REASONS

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class RequestMetrics:
    def __init__(self):
        self._lock = threading.Lock()
        self._count: dict[tuple[str, str, str], int] = defaultdict(int)
        self._hist: dict[tuple[str, str], list[float]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self._count[(method, route, str(status))] += 1
            hist = self._hist.setdefault((method, route), [0.0] * (len(BUCKETS) + 2))
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    hist[i] += 1
            hist[len(BUCKETS)] += 1  # +Inf / count
            hist[len(BUCKETS) + 1] += seconds  # sum

    def render(self) -> list[str]:
        lines = ["# HELP http_requests_total HTTP requests by route and status.",
                 "# TYPE http_requests_total counter"]
        with self._lock:
            for (method, route, status), n in sorted(self._count.items()):
                lines.append(f'http_requests_total{{method="{method}",route="{_esc(route)}",'
                             f'status="{status}"}} {n}')
            lines += ["# HELP http_request_duration_seconds Request latency by route.",
                      "# TYPE http_request_duration_seconds histogram"]
            for (method, route), hist in sorted(self._hist.items()):
                labels = f'method="{method}",route="{_esc(route)}"'
                for i, bound in enumerate(BUCKETS):
                    lines.append(f'http_request_duration_seconds_bucket{{{labels},le="{bound}"}} '
                                 f"{int(hist[i])}")
                count = int(hist[len(BUCKETS)])
                lines.append(f'http_request_duration_seconds_bucket{{{labels},le="+Inf"}} {count}')
                lines.append(f"http_request_duration_seconds_count{{{labels}}} {count}")
                lines.append(f"http_request_duration_seconds_sum{{{labels}}} "
                             f"{hist[len(BUCKETS) + 1]:.6f}")
        return lines


def replica_lines(replica) -> list[str]:
    """The reporting reads by where they were served, the fallbacks to the primary by reason,
    and the replica's last measured lag (service/kit/replica.py); nothing without a replica."""
    if replica is None:
        return []
    lines = ["# HELP reporting_reads_total Reporting reads by the database that served them.",
             "# TYPE reporting_reads_total counter"]
    lines += [f'reporting_reads_total{{served_by="{where}"}} {replica.served[where]}'
              for where in ("replica", "primary")]
    lines += ["# HELP replica_fallbacks_total Reporting reads sent to the primary instead of "
              "the replica, by reason.", "# TYPE replica_fallbacks_total counter"]
    lines += [f'replica_fallbacks_total{{reason="{reason}"}} {replica.fallbacks[reason]}'
              for reason in REPLICA_REASONS]
    if replica.lag_s is not None and replica.lag_s != float("inf"):
        lines += ["# HELP replica_lag_seconds The replica's lag at its last measure.",
                  "# TYPE replica_lag_seconds gauge", f"replica_lag_seconds {replica.lag_s:.3f}"]
    return lines


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


REQUESTS = RequestMetrics()
