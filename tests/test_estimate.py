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
    assert all(seconds > 0 for seconds in estimate.values())


@pytest.mark.parametrize(("more", "stages"), [
    ({"n_train": 40000}, ("data", "train", "activations", "signatures", "analysis")),
    ({"overrides": ("train.epochs=40",)}, ("train",)),
    ({"overrides": ("model.hidden=[256, 128, 64]",)}, ("train", "activations", "signatures")),
    ({"overrides": ("seeds=[0, 1, 2]",)}, ("train", "activations", "signatures")),
])
def test_more_work_takes_longer(more: dict, stages: tuple[str, ...]) -> None:
    base = _estimate()
    bigger = _estimate(*more.get("overrides", ()), n_train=more.get("n_train", 10000))
    for stage in stages:
        assert bigger[stage] > base[stage], stage
    assert sum(bigger.values()) > sum(base.values())
