"""Per-merchant fairness at intake: a token bucket per merchant, and each merchant's share of the backlog.

Pure rules, no I/O (the clock is passed in): BacklogMonitor (backpressure.py) holds the state of one API process.

- **Rate**: each merchant has a bucket of `burst` orders refilled at `rate_per_s`; a request of n orders takes n
  tokens. A request larger than the bucket is let through when the bucket is full, and leaves it in debt, so a batch
  of 1,000 is never refused for being a batch. Its keys share it: more keys give a merchant no more throughput.
- **Backlog share**: the backlog (events intake produced that are not yet handled downstream) is attributed to the
  merchants whose orders make it: the pipeline is first in, first out, so the backlog is the most recent orders, and
  a merchant's part of it is its part of the last `backlog` orders taken. Each merchant with orders in that window
  may hold `max_backlog × its weight ÷ the weights of all of them`; over that, its requests are refused (429), while
  merchants under their share go on. One merchant alone may fill the whole bound, as before.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    """`burst` tokens, refilled at `rate_per_s`; `take` answers 0 (taken) or the seconds until it would be."""

    rate_per_s: float
    burst: float
    tokens: float
    updated: float

    @classmethod
    def full(cls, rate_per_s: float, burst: float, now: float) -> TokenBucket:
        return cls(rate_per_s, burst, burst, now)

    def refill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + max(0.0, now - self.updated) * self.rate_per_s)
        self.updated = now

    def take(self, cost: float, now: float) -> float:
        """Take `cost` tokens (into debt when cost exceeds the burst and the bucket is full); 0.0 when taken, else
        how long to wait."""
        self.refill(now)
        needed = min(cost, self.burst)
        if self.tokens >= needed:
            self.tokens -= cost
            return 0.0
        return (needed - self.tokens) / self.rate_per_s


@dataclass
class IntakeLedger:
    """The merchants of the most recent orders, in order: (merchant, count) runs, merged when consecutive."""

    capacity: int
    runs: deque[list] = field(default_factory=deque)
    total: int = 0

    def record(self, merchant: str, count: int) -> None:
        if self.runs and self.runs[-1][0] == merchant:
            self.runs[-1][1] += count
        else:
            self.runs.append([merchant, count])
        self.total += count
        while self.runs and self.total - self.runs[0][1] >= self.capacity:
            self.total -= self.runs.popleft()[1]

    def recent(self, orders: int) -> dict[str, int]:
        """Orders per merchant among the last `orders` taken."""
        counts: dict[str, int] = {}
        left = orders
        for merchant, count in reversed(self.runs):
            if left <= 0:
                break
            taken = min(count, left)
            counts[merchant] = counts.get(merchant, 0) + taken
            left -= taken
        return counts


@dataclass(frozen=True)
class Share:
    """A merchant's estimated part of the backlog, and how much of it it may hold."""

    backlog: float
    limit: float

    @property
    def exceeded(self) -> bool:
        return self.backlog > self.limit


def backlog_shares(backlog: int, recent: dict[str, int], weights: dict[str, float],
                   max_backlog: int) -> dict[str, Share]:
    """Each recent merchant's estimated backlog (its part of the recent orders × the backlog) and its limit
    (max_backlog split by weight among them). A merchant absent from `recent` holds nothing of the backlog."""
    total = sum(recent.values())
    if total == 0:
        return {}
    weight_sum = sum(weights.get(merchant, 1.0) for merchant in recent)
    return {merchant: Share(backlog * count / total, max_backlog * weights.get(merchant, 1.0) / weight_sum)
            for merchant, count in recent.items()}
