"""The time estimate grows with what a run does: images, epochs, widths, seeds, snapshots."""

from __future__ import annotations

import pytest

from sigreport.config import load_config
from sigreport.estimate import STAGES, estimate_seconds, run_size
from sigreport.train import snapshot_epochs


def _estimate(*overrides: str, n_train: int = 10000) -> dict[str, float]:
    config = load_config("mnist-1-7", list(overrides))
    return estimate_seconds(run_size(config, n_train, 2163, 1010, snapshot_epochs(config.train)))


def test_every_stage_is_estimated() -> None:
    estimate = _estimate()
    assert list(estimate) == list(STAGES)
    assert all(seconds >= 0 for seconds in estimate.values())
    assert sum(estimate.values()) > 0


@pytest.mark.parametrize(("overrides", "n_train"), [
    ((), 40000),
    (("train.epochs=40",), 10000),
    (("model.hidden=[256, 128, 64]",), 10000),
    (("model.hidden=[64, 32, 16, 16, 16]",), 10000),
    (("seeds=[0, 1, 2]",), 10000),
])
def test_more_work_never_takes_less(overrides: tuple[str, ...], n_train: int) -> None:
    base = _estimate()
    bigger = _estimate(*overrides, n_train=n_train)
    assert all(bigger[stage] >= base[stage] for stage in STAGES)
    assert sum(bigger.values()) > sum(base.values())
