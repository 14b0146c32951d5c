"""Section 9, reproduce: seeds, versions, checksums, timings and the resolved config."""

from __future__ import annotations

from sigreport.config import Config, config_to_toml
from sigreport.report.sections.common import Section

__all__ = ["build_reproducibility"]


def _from_cache(cache_hits: dict[str, bool]) -> dict[str, str]:
    """Stage -> what of it came from the cache, in words (training: its seeds)."""
    seeds = {k.removeprefix("train_seed_"): hit for k, hit in cache_hits.items()
             if k.startswith("train_seed_")}
    hits = [s for s, hit in seeds.items() if hit]
    if not hits:
        return {}
    if len(hits) == len(seeds):
        return {"train": "from the cache"}
    return {"train": f"seed{'s' if len(hits) > 1 else ''} {', '.join(hits)} from the cache"}


def _repro(manifest: dict, config: Config) -> dict:
    versions = manifest.get("versions", {}) or {}
    timings = manifest.get("timings_s", {}) or {}
    return {
        "seed": manifest.get("seed", config.seed),
        "seeds": manifest.get("seeds") or list(config.all_seeds),
        "versions": sorted(versions.items()),
        "data_sha256": manifest.get("data_sha256"),
        "git_commit": manifest.get("git_commit"),
        "created": manifest.get("created"),
        # The report stage is appended by render_report, which measures itself.
        "timings": [(k, float(v)) for k, v in timings.items() if k != "report"],
        "from_cache": _from_cache(manifest.get("cache_hits") or {}),
        "config_toml": config_to_toml(config),
    }



def build_reproducibility(metrics: dict, manifest: dict, config: Config) -> Section:
    """What a reader needs to rerun the report, and what was subsampled."""
    return Section(values={"repro": _repro(manifest, config),
                           "subsampling": metrics.get("subsampling") or {}})
