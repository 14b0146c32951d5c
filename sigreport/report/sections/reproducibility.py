"""Section 9, reproduce: seeds, versions, checksums, timings and the resolved config, and how
to cite the report."""

from __future__ import annotations

import re
from urllib.parse import quote

from sigreport.analysis.types import Metrics
from sigreport.config import Config, config_to_toml
from sigreport.report.sections.common import Section

# Characters BibTeX or LaTeX read as markup, and how each is written as text.
_BIBTEX = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "&": r"\&", "%": r"\%",
           "$": r"\$", "#": r"\#", "_": r"\_", "~": r"\textasciitilde{}",
           "^": r"\textasciicircum{}"}

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



def _bibtex_text(text: str) -> str:
    return "".join(_BIBTEX.get(ch, ch) for ch in " ".join(str(text).split()))


def _cite(manifest: dict, config: Config) -> dict:
    """The report's citation from its manifest: title, date, sigreport version, data checksum,
    commit (None outside a git checkout), and the same as a BibTeX entry."""
    title = manifest.get("title") or config.title or config.name
    created = str(manifest.get("created") or "")
    date = created[:10]
    version = (manifest.get("versions") or {}).get("sigreport")
    sha = manifest.get("data_sha256")
    commit = manifest.get("git_commit")
    key = re.sub(r"[^A-Za-z0-9]+", "-", f"sigreport-{config.name}-{date}").strip("-")
    note = f"Activation-path report made with sigreport {version}; data sha256 {sha}"
    if commit:
        note += f"; sigreport commit {commit}"
    fields = [("title", "{" + _bibtex_text(title) + "}"), ("author", "{{sigreport}}"),
              ("year", date[:4]), ("month", str(int(date[5:7])) if len(date) >= 7 else ""),
              ("howpublished", "{sigreport " + _bibtex_text(str(version)) + "}"),
              ("note", "{" + _bibtex_text(note) + "}")]
    body = ",\n".join(f"  {k} = {v}" for k, v in fields if v)
    bibtex = f"@misc{{{key},\n{body}\n}}\n"
    return {"title": title, "date": date, "version": version, "data_sha256": sha,
            "git_commit": commit, "bibtex": bibtex, "key": key,
            "bibtex_href": "data:application/x-bibtex;charset=utf-8," + quote(bibtex)}


def build_reproducibility(metrics: Metrics, manifest: dict, config: Config) -> Section:
    """What a reader needs to rerun the report, what was subsampled, and how to cite it."""
    return Section(values={"repro": _repro(manifest, config), "cite": _cite(manifest, config),
                           "subsampling": metrics["subsampling"]})
