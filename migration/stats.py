"""Small exact tests for error counts, so the judge needs no scientific library.

`fisher_greater` is the one-sided Fisher exact test (is the canary's error rate higher than
the baseline's?), `binomial_greater` the one-sided exact binomial test against a fixed rate,
and `required_requests` the sample size a regression of a given size needs to be seen.
"""

from __future__ import annotations

import math
from statistics import NormalDist


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def binomial_greater(successes: int, trials: int, rate: float) -> float:
    """P(X >= successes) for X ~ Binomial(trials, rate)."""
    if successes <= 0:
        return 1.0
    if successes > trials:
        return 0.0
    if rate <= 0.0:
        return 0.0
    if rate >= 1.0:
        return 1.0
    log_p, log_q = math.log(rate), math.log1p(-rate)
    mode = int((trials + 1) * rate)
    log_sum = -math.inf
    for k in range(successes, trials + 1):
        term = _log_comb(trials, k) + k * log_p + (trials - k) * log_q
        log_sum = _log_add(log_sum, term)
        # Past the mode the terms only shrink; once they stop mattering, so does the rest.
        if k > mode and term < log_sum - 40:
            break
    return min(1.0, math.exp(log_sum))


def _log_add(a: float, b: float) -> float:
    """log(e^a + e^b) without overflow."""
    if a == -math.inf:
        return b
    high, low = max(a, b), min(a, b)
    return high + math.log1p(math.exp(low - high))


def fisher_greater(errors_a: int, total_a: int, errors_b: int, total_b: int) -> float:
    """One-sided Fisher exact p-value that group A's error rate exceeds group B's."""
    if total_a <= 0 or total_b <= 0:
        return 1.0
    errors = errors_a + errors_b
    total = total_a + total_b
    low, high = max(0, errors - total_b), min(errors, total_a)
    denominator = _log_comb(total, errors)

    def log_pmf(k: int) -> float:
        return _log_comb(total_a, k) + _log_comb(total_b, errors - k) - denominator

    terms = [log_pmf(k) for k in range(max(errors_a, low), high + 1)]
    if not terms:
        return 0.0
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))


def required_requests(base_rate: float, worse_rate: float, alpha: float, power: float) -> int:
    """Requests needed to tell `worse_rate` from `base_rate` (one-sided, normal approximation)."""
    if worse_rate <= base_rate:
        raise ValueError("the regression to detect must be above the baseline rate")
    normal = NormalDist()
    z_alpha, z_beta = normal.inv_cdf(1 - alpha), normal.inv_cdf(power)
    spread = (z_alpha * math.sqrt(base_rate * (1 - base_rate))
              + z_beta * math.sqrt(worse_rate * (1 - worse_rate)))
    return math.ceil((spread / (worse_rate - base_rate)) ** 2)
