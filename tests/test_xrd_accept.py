"""The abstain rule over the tentative phases (``spectra.accept_phases``, session 11)."""

from __future__ import annotations

import pytest

from matsearch.search import spectra
from matsearch.search.spectra import MIXTURE_ACCEPT_SCORE, accept_phases

T = 0.271


def test_own_peak_confidence_of_phase_one_and_the_credible_phase_variant(monkeypatch: pytest.MonkeyPatch) -> None:
    # a look-alike explains part of the peaks (0.55 on its own + the unexplained ones, 0.12 on the whole pattern); the
    # second "phase" taking the rest is credible by neither model. Shipped: phase 1 passes on its own peaks
    assert accept_phases([0.55, 0.10], 0.12, 0.20, [0.0, 0.15], [0.0, 0.3], [1.0, 0.5], T) == [(0, 0.55)]
    # the session-11 variant judges it on the whole pattern beside no credible phase, and keeps it beside one
    monkeypatch.setattr(spectra, "OWN_PEAKS_NEED_CREDIBLE_PHASE", True)
    assert accept_phases([0.55, 0.10], 0.12, 0.20, [0.0, 0.15], [0.0, 0.3], [1.0, 0.5], T) == []
    kept = accept_phases([0.55, 0.10], 0.12, 0.20, [0.0, 0.40], [0.0, 0.3], [1.0, 0.5], T)
    assert kept == [(0, 0.55), (1, 0.40)]


def test_the_rest_of_the_rule() -> None:
    assert accept_phases([0.8], 0.0, None, [0.0], [0.0], [1.0], T) == [(0, 0.8)]
    assert accept_phases([0.2], 0.0, None, [0.0], [0.0], [1.0], T) == []
    # phase 1 under the threshold, rescued by the mixture-phase model beside an accepted further phase
    assert accept_phases([0.2, 0.1], 0.1, 0.5, [0.0, 0.6], [0.0, 0.2], [1.0, 0.5], T) == [(0, 0.5), (1, 0.6)]
    # a further phase that fits the leftover peaks well is kept beside an accepted phase 1
    kept = accept_phases([0.9, 0.1], 0.9, 0.2, [0.0, 0.1], [0.0, MIXTURE_ACCEPT_SCORE], [1.0, 0.85], T)
    assert [n for n, _ in kept] == [0, 1]
    # ... and not beside a rejected one
    assert accept_phases([0.1, 0.1], 0.1, 0.1, [0.0, 0.1], [0.0, 0.9], [1.0, 0.9], T) == []
