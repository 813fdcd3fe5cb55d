"""The judge's statistics: sequential tests that stay honest however often the step looks.

A soak looks at its canary every analysis interval, so a fixed-level test re-run at every look
rolls back far more healthy canaries than its level says, and a rule with extra conditions on
top of the test has less power than the sample size its textbook formula promises. Here:

- **Cumulative window: Wald's sequential probability ratio test.** The likelihood ratio of
  "the canary fails at `p1`" against "it fails at `p0`" is a (super)martingale whenever the
  canary's true rate is at most `p0`, so by Ville's inequality it ever reaches `1/alpha` with
  probability at most `alpha`, however many looks. No correction for looks is needed.
- **Recent window: an exact binomial test with alpha spent evenly over the planned looks**
  (Bonferroni spending), so a fault that starts late is judged on recent traffic.
- **`p0` from the baseline is its upper confidence bound** (Clopper-Pearson): a baseline that
  happened to look clean does not make the canary's ordinary errors look like a regression.
- **Sample size from the rule itself**: `sequential_requests` is the smallest canary sample at
  which the test (with its minimum error count) fails with the wanted power, computed exactly
  from the binomial distribution, not from a normal-approximation formula for another test.
- **Traffic share with clumps**: DNS resolvers send a resolver's clients to one lane for a
  TTL, so the canary's count is overdispersed; the share test inflates the binomial variance.
- **Latency rank test**: Mann-Whitney U (as Kayenta's classifier), where per-request samples exist.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np


@functools.cache
def _scipy_stats():
    """scipy.stats, imported at the first judgement: it takes about a second, which every
    `soundbite migrate` command (a 3 a.m. `rollback` included) would otherwise pay at start."""
    from scipy import stats

    return stats


def binomial_greater(successes: int, trials: int, rate: float) -> float:
    """P(X >= successes) for X ~ Binomial(trials, rate)."""
    if successes <= 0:
        return 1.0
    if successes > trials or rate <= 0.0:
        return 0.0
    if rate >= 1.0:
        return 1.0
    return float(_scipy_stats().binom.sf(successes - 1, trials, rate))


def fisher_greater(errors_a: int, total_a: int, errors_b: int, total_b: int) -> float:
    """One-sided Fisher exact p-value that group A's error rate exceeds group B's."""
    if total_a <= 0 or total_b <= 0:
        return 1.0
    table = [[errors_a, total_a - errors_a], [errors_b, total_b - errors_b]]
    return float(_scipy_stats().fisher_exact(table, alternative="greater").pvalue)


def rate_upper_bound(errors: float, requests: float, confidence: float) -> float | None:
    """One-sided Clopper-Pearson upper bound of an error rate (None without requests)."""
    n, k = int(requests), int(min(errors, requests))
    if n <= 0:
        return None
    if k >= n:
        return 1.0
    return float(_scipy_stats().beta.ppf(confidence, k + 1, n - k))


def _llr_weights(p0: float, p1: float) -> tuple[float, float]:
    """Per-error gain and per-success loss of the log likelihood ratio of p1 against p0."""
    if not 0.0 <= p0 < p1 < 1.0:
        raise ValueError(f"the regression to detect must be above the null rate ({p0} -> {p1})")
    gain = math.inf if p0 == 0.0 else math.log(p1 / p0)
    loss = math.log((1 - p0) / (1 - p1))
    return gain, loss


def sprt_log_ratio(errors: int, requests: int, p0: float, p1: float) -> float:
    """Log likelihood ratio of `errors` in `requests` under rate p1 against rate p0."""
    gain, loss = _llr_weights(p0, p1)
    if errors > 0 and gain == math.inf:
        return math.inf
    return errors * (gain if errors else 0.0) - (requests - errors) * loss


def sprt_critical_errors(requests: int, p0: float, p1: float, alpha: float,
                         min_errors: int = 1) -> int:
    """The fewest errors in `requests` at which the SPRT rejects p0 (log ratio >= log 1/alpha)."""
    gain, loss = _llr_weights(p0, p1)
    if gain == math.inf:
        return max(1, min_errors)
    bound = math.log(1 / alpha)
    return max(min_errors, math.ceil((bound + requests * loss) / (gain + loss) - 1e-12))


def sprt_rejects(errors: int, requests: int, p0: float, p1: float, alpha: float,
                 min_errors: int = 1) -> bool:
    return requests > 0 and errors >= sprt_critical_errors(requests, p0, p1, alpha, min_errors)


def sprt_power(requests: int, p0: float, p1: float, alpha: float, min_errors: int = 1,
               true_rate: float | None = None) -> float:
    """P(the SPRT rejects at `requests`) when the canary's rate is `true_rate` (p1 by default)."""
    critical = sprt_critical_errors(requests, p0, p1, alpha, min_errors)
    return binomial_greater(critical, requests, p1 if true_rate is None else true_rate)


def sequential_requests(p0: float, p1: float, alpha: float, power: float,
                        min_errors: int = 1, limit: int = 10_000_000,
                        true_rate: float | None = None) -> int:
    """The smallest canary sample at which the SPRT (and minimum error count) has `power`.

    Exact: the rejection region at n is `errors >= sprt_critical_errors(n)`, so its power is a
    binomial tail. Power rises with n apart from a small sawtooth; search by doubling, then
    bisect. `true_rate` is the regressed rate the power is for (p1 by default)."""
    def ok(n: int) -> bool:
        return sprt_power(n, p0, p1, alpha, min_errors, true_rate) >= power

    high = max(1, min_errors)
    while not ok(high):
        high *= 2
        if high > limit:
            return limit
    low = high // 2
    while high - low > 1:
        mid = (low + high) // 2
        if ok(mid):
            high = mid
        else:
            low = mid
    return high


def spent_alpha(alpha: float, looks: int) -> float:
    """The level of each of `looks` tests that together spend `alpha` (Bonferroni)."""
    return alpha / max(1, looks)


def share_p_value(seen: float, total: float, share: float, dispersion: float) -> float:
    """Two-sided p-value that the canary's count departs from its share, with clumping.

    Quasi-binomial: the variance is `dispersion` times the binomial one, as if requests came
    in clumps of about `dispersion` (a resolver's clients follow one answer for a TTL)."""
    if total <= 0 or not 0 < share < 1:
        return 1.0
    spread = math.sqrt(max(dispersion, 1.0) * total * share * (1 - share))
    z = abs(seen - total * share) / spread
    return float(2 * _scipy_stats().norm.sf(z))


def quantile(samples: Sequence[float], q: float) -> float | None:
    return float(np.quantile(np.asarray(samples, dtype=float), q)) if len(samples) else None


def mann_whitney_greater(canary: Sequence[float], baseline: Sequence[float]) -> float:
    """One-sided Mann-Whitney U p-value that canary latencies tend to exceed the baseline's."""
    if len(canary) == 0 or len(baseline) == 0:
        return 1.0
    return float(_scipy_stats().mannwhitneyu(canary, baseline, alternative="greater").pvalue)


def required_requests(base_rate: float, worse_rate: float, alpha: float, power: float) -> int:
    """Fixed-sample size for a one-sided test (normal approximation); kept for comparison only:
    the judge asks for `sequential_requests`, the size of the rule it applies."""
    if worse_rate <= base_rate:
        raise ValueError("the regression to detect must be above the baseline rate")
    z_alpha, z_beta = _scipy_stats().norm.ppf(1 - alpha), _scipy_stats().norm.ppf(power)
    spread = (z_alpha * math.sqrt(base_rate * (1 - base_rate))
              + z_beta * math.sqrt(worse_rate * (1 - worse_rate)))
    return math.ceil((spread / (worse_rate - base_rate)) ** 2)
