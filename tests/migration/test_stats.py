"""The exact tests agree with textbook values."""

import math

import pytest

from migration.stats import binomial_greater, fisher_greater, required_requests


def test_fisher_matches_the_tea_tasting_table():
    # Fisher's lady tasting tea: 3 of 4 right in each group, one-sided p = 17/70.
    assert fisher_greater(3, 4, 1, 4) == pytest.approx(17 / 70)
    assert fisher_greater(3, 3, 0, 3) == pytest.approx(1 / 20)


def test_fisher_is_one_sided():
    assert fisher_greater(0, 100, 10, 100) == pytest.approx(1.0)
    assert fisher_greater(15, 300, 6, 5700) < 1e-9


def test_binomial_tail_matches_closed_form():
    assert binomial_greater(2, 10, 0.1) == pytest.approx(1 - 0.9 ** 10 - 10 * 0.1 * 0.9 ** 9)
    assert binomial_greater(0, 10, 0.1) == 1.0
    assert binomial_greater(11, 10, 0.1) == 0.0
    assert binomial_greater(5000, 10000, 0.5) == pytest.approx(0.5040, abs=1e-3)


def test_required_requests_grows_as_the_regression_shrinks():
    big = required_requests(0.001, 0.05, 0.01, 0.8)
    small = required_requests(0.001, 0.011, 0.01, 0.8)
    assert big < small
    # Normal-approximation value for p0=0.1, p1=0.2, one-sided alpha 0.05, power 0.8.
    expected = ((1.6449 * math.sqrt(0.09) + 0.8416 * math.sqrt(0.16)) / 0.1) ** 2
    assert required_requests(0.1, 0.2, 0.05, 0.8) == math.ceil(expected)
    with pytest.raises(ValueError):
        required_requests(0.1, 0.1, 0.05, 0.8)
