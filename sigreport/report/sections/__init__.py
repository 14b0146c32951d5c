"""One view builder per report section, each returning a :class:`Section` for its include."""

from sigreport.report.sections.answers import build_answers
from sigreport.report.sections.common import Section, build_context, format_path
from sigreport.report.sections.detection import build_detection
from sigreport.report.sections.exemplars import build_exemplars
from sigreport.report.sections.glance import build_glance
from sigreport.report.sections.glossary import build_glossary
from sigreport.report.sections.layers import build_layers
from sigreport.report.sections.paths import build_paths
from sigreport.report.sections.probes import build_probes
from sigreport.report.sections.projections import build_projections
from sigreport.report.sections.reproducibility import build_reproducibility
from sigreport.report.sections.spread import build_seed_spread
from sigreport.report.sections.training import build_training

__all__ = [
    "Section",
    "build_answers",
    "build_context",
    "build_detection",
    "build_exemplars",
    "build_glance",
    "build_glossary",
    "build_layers",
    "build_paths",
    "build_probes",
    "build_projections",
    "build_reproducibility",
    "build_seed_spread",
    "build_training",
    "format_path",
]
