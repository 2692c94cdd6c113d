"""The "nothing lost" checks: each provider call needs an audit record of its own; a code revealing twice is caught."""

from __future__ import annotations

from drill.checks import Duel, ProviderCall, ProviderLeg, double_spends, unmatched_calls


def test_every_call_inside_its_own_record_is_accounted_for():
    legs = [ProviderLeg("thredd", 1.0, 2.0), ProviderLeg("thredd", 1.5, 3.0)]
    calls = [ProviderCall(1.6, "thredd"), ProviderCall(1.7, "thredd")]
    assert unmatched_calls(calls, legs) == []


def test_two_calls_with_one_record_leave_one_unaccounted():
    legs = [ProviderLeg("thredd", 1.0, 2.0)]
    calls = [ProviderCall(1.2, "thredd"), ProviderCall(1.4, "thredd")]
    assert unmatched_calls(calls, legs) == [ProviderCall(1.4, "thredd")]


def test_a_call_outside_every_record_or_of_another_provider_is_unaccounted():
    legs = [ProviderLeg("thredd", 1.0, 2.0), ProviderLeg("netxd", 2.5, 4.0)]
    late = ProviderCall(2.2, "thredd")
    other = ProviderCall(1.5, "mastercard")
    assert unmatched_calls([late, other], legs) == [other, late]


def test_a_record_left_pending_accounts_for_a_call_whenever_it_came():
    legs = [ProviderLeg("juspay", 1.0, None)]
    assert unmatched_calls([ProviderCall(500.0, "juspay")], legs) == []


def test_the_matching_gives_each_call_the_record_that_ends_first():
    # A naive first-come matching would give the long record to the first call and leave the
    # second without one; the greedy by end time accounts for both.
    legs = [ProviderLeg("mastercard", 0.0, 10.0), ProviderLeg("mastercard", 0.5, 1.5)]
    calls = [ProviderCall(1.0, "mastercard"), ProviderCall(5.0, "mastercard")]
    assert unmatched_calls(calls, legs) == []


def test_a_code_that_revealed_on_two_hosts_is_a_double_spend():
    once = Duel(("h1", "h2"), (200, 403))
    twice = Duel(("h2", "h1"), (200, 200))
    neither = Duel(("h1", "h2"), (503, 0))
    assert double_spends([once, twice, neither]) == [twice]
