"""The shapes of the metrics sections, as the report reads them.

Each question module returns one of these; ``compute_metrics`` assembles them
into the ``metrics.json`` layout (its JSON Schema: ``sigreport/metrics.schema.json``).
The report indexes these fields directly, so a renamed or missing field fails
a test instead of printing "n/a".
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

Interval = list[float] | None


class SeparationRow(TypedDict):
    layer: str
    index: int
    kind: str
    value: dict[str, float]
    ci: dict[str, Interval]
    control: dict[str, float | None]
    control_ci: dict[str, Interval]
    input_difference: dict[str, float | None]
    input_difference_ci: dict[str, Interval]
    control_difference: dict[str, float | None]
    control_difference_ci: dict[str, Interval]
    beats_input: dict[str, bool | None]
    beats_control: dict[str, bool | None]


class Separation(TypedDict):
    separation_layer: str | None
    separation_layer_index: int | None
    measure: str
    measures: list[str]
    split: str
    control_epoch: int | None
    first_layer_by_measure: dict[str, str | None]
    n_measures_agree: int
    verdict: str
    verdict_rule: str
    reason: str | None
    largest_step_layer: str | None
    largest_step: float | None
    input_linear_probe_accuracy: float
    input_linear_probe_accuracy_ci: Interval
    n_hidden: int
    per_layer: list[SeparationRow]


class DifferRow(TypedDict):
    layer: str
    path_layers: list[str]
    js: float
    js_ci: Interval
    control_js: float | None
    control_js_ci: Interval
    beats_input: bool | None
    beats_input_lda: bool | None
    beats_control: bool | None


class SignaturesDiffer(TypedDict):
    measure: str
    split: str
    rule: str
    input: dict[str, Any]
    input_lda: dict[str, Any]
    last_layer: dict[str, Any] | None
    differences: dict[str, dict[str, Any] | None]
    verdict: str
    verdict_rule: str
    min_path_gain: float
    path_beyond_last_layer: bool | None
    per_layer: list[DifferRow]
    routed_like: list[dict[str, Any]]     # per (class, looks_like) pair; see differ.routed_like
    routed_like_rule: str
    routed_like_total: int
    routed_like_correct: int


class UnseenLayer(TypedDict):
    layer: str
    unassigned_rate: float
    test_unassigned_rate: float
    clusters: list[dict[str, Any]]
    lands_in_class: dict[str, float]
    centroid_distance_mean: float
    trained_test_distance_mean: float | None
    boundary_ratio_median: float
    test_boundary_ratio_median: float | None


class UnseenRates(TypedDict):
    probe: float
    probe_ci: Interval
    test: float
    test_ci: Interval
    excess: float
    excess_ci: Interval


class UnseenControlRow(UnseenRates):
    layer: str
    kind: str
    untrained: UnseenRates | None
    over_input: dict[str, Any] | None       # {value, ci, above}
    over_untrained: dict[str, Any] | None


class UnseenVerdict(TypedDict):
    verdict: str
    statement: str
    rule: str
    layer: str | None
    has_untrained_control: bool
    called: str | None
    called_share: float | None
    most_unassigned_layer: str | None
    most_unassigned: float | None
    input_detector_wins: bool | None
    input_rule: str


# "class" is a keyword: the functional form names the key as metrics.json writes it.
Unseen = TypedDict("Unseen", {
    "class": int,
    "n_samples": int,
    "predicted_as": dict[str, float],
    "test_predicted_as": dict[str, float],
    "novel_path_fraction": float,
    "test_novel_path_fraction": float | None,
    "unassigned_any_fraction": float,
    "test_unassigned_any_fraction": float | None,
    "layers": list[UnseenLayer],
    "top_paths": list[dict[str, Any]],
    "most_borrowed_path": list[int] | None,
    "most_borrowed_path_fraction": float,
    "most_borrowed_path_dominant_class": int | None,
    "control_epoch": int | None,
    "controls": list[UnseenControlRow],
    "quantile_sweep": dict[str, Any] | None,
    "verdict": UnseenVerdict,
})


class DetectionBest(TypedDict):
    method: str
    family: str
    layer: str
    layers: list[str]
    auroc: float
    auroc_ci: Interval
    fpr95: float
    fpr95_ci: Interval


class DetectionPick(DetectionBest):
    selection_auroc: float
    n_known: int
    n_unknown: int


class DetectionSelection(TypedDict):
    rule: str
    seed: int
    n_known_choose: int
    n_known_quote: int
    n_unknown_choose: int
    n_unknown_quote: int


class DetectionControl(TypedDict):
    epoch: int
    best_per_family: dict[str, DetectionPick | None]
    best_per_family_by_class: dict[str, dict[str, DetectionPick | None]]


class DetectionRow(DetectionBest):
    probe_class: int | str
    n_known: int
    n_unknown: int
    roc: dict[str, list[float]]


class DetectionSummary(TypedDict):
    probe_class: str
    families: dict[str, str]
    methods: dict[str, str]
    best_per_family: dict[str, DetectionPick | None]
    best_per_family_by_class: dict[str, dict[str, DetectionPick | None]]
    selection: DetectionSelection
    untrained: DetectionControl | None
    max_softmax: DetectionBest | None
    knn_k: int
    deep_knn_k: int
    combined: str


class Share(TypedDict):
    value: float | None
    ci: Interval
    n: int
    coverage: NotRequired[float | None]     # faithfulness only: test share on non-novel paths


class Signature(TypedDict):
    method: str
    k: int | None
    k_rule: str
    k_max: int
    standardize: bool
    boundary: str
    boundary_quantile: float
    fit_on: NotRequired[str]


class Experiment(TypedDict):
    name: str
    title: str
    dataset: str
    classes: list[int]
    probe_classes: list[int]
    class_names: dict[str, str]
    n_train: int
    n_test: int
    n_probe: int
    hidden: list[int]
    activation: str
    conv: NotRequired[list[int]]            # the built-in CNN only
    pool: NotRequired[str]                  # the built-in CNN only
    network: NotRequired[dict[str, Any]]    # an outside network only
    loss: str | None                        # None for an outside network
    seed: int
    seeds: list[int]
    signatures: Signature
    confidence: float
    n_bootstrap: int


class History(TypedDict):
    epoch: list[int]
    train_loss: list[float | None]
    train_accuracy: list[float | None]
    test_accuracy: list[float | None]


class Model(TypedDict):
    test_accuracy: float | None
    test_accuracy_ci: Interval
    train_accuracy: float | None
    history: History


class Layer(TypedDict):
    index: int
    name: str
    kind: str
    width: int
    linear_probe_accuracy: float | None
    linear_probe_accuracy_ci: Interval
    cka_labels: float | None
    cka_labels_ci: Interval
    cluster_class_ami: float | None
    cluster_class_ami_ci: Interval
    cluster_class_nmi: float | None
    cluster_class_ari: float | None
    purity: float | None
    n_clusters: int
    k_selection: dict[str, Any]
    unassigned_rate: dict[str, float | None]
    cluster_counts: dict[str, list[int]]
    unassigned_counts: dict[str, int]
    probe_cluster_counts: dict[str, list[int]]
    probe_unassigned_counts: dict[str, int]
    cluster_dominant_class: list[int | None]
    distance: dict[str, float | None]
    binary: dict[str, Any] | None


class PathRow(TypedDict):
    path: list[int]
    counts: dict[str, int]
    test_counts: dict[str, int]
    probe_counts: dict[str, int]
    total: int
    support: int
    purity: float | None
    dominant_class: int | None
    specific: bool
    novel: bool


class Paths(TypedDict):
    layers: list[str]
    unassigned: int
    n_distinct_train: int
    n_distinct_test: int
    n_distinct_probe: int
    specific_threshold: float
    min_support: int
    n_specific: int
    specific_per_class: dict[str, int]
    path_purity_train: float | None
    table: list[PathRow]
    table_cap: int
    table_truncated: bool
    coverage: dict[str, float | None]
    specific_share: dict[str, Any]
    novel_share: dict[str, Any]
    faithfulness: Share
    faithfulness_specific: Share
    noise: dict[str, Any] | None


class OodRow(TypedDict):
    probe_class: int | str
    method: str
    family: str
    layer: str
    layers: list[str]
    auroc: float | None
    auroc_ci: Interval
    fpr95: float | None
    fpr95_ci: Interval
    n_known: int
    n_unknown: int
    roc: dict[str, Any]


class Answers(TypedDict):
    separation: Separation
    signatures_differ: SignaturesDiffer
    unseen: list[Unseen]
    unseen_detection: DetectionSummary | None


class ProjectionLayer(TypedDict):
    name: str
    explained_variance: float | None


class Projection(TypedDict):
    method: str
    n_points: int
    per_class: dict[str, int]
    layers: list[ProjectionLayer]


class SnapshotLayer(TypedDict):
    name: str
    cluster_class_ami: float | None
    cka_labels: float | None
    linear_probe_accuracy: float | None
    n_clusters: int
    unassigned_rate: dict[str, float | None]


class Snapshot(TypedDict):
    epoch: int
    test_accuracy: float | None
    layers: list[SnapshotLayer]
    n_distinct_paths: int
    path_purity: float | None
    n_specific: int


class Metrics(TypedDict):
    """metrics.json as a whole (``sigreport/metrics.schema.json``)."""

    schema_version: int
    experiment: Experiment
    model: Model
    layers: list[Layer]
    cka: dict[str, Any]
    answers: Answers
    paths: Paths
    ood: list[OodRow]
    stability: dict[str, Any] | None
    seed_spread: dict[str, Any] | None
    snapshots: list[Snapshot]
    subsampling: dict[str, str]
    projection: NotRequired[Projection]    # written by the run after the analysis


# Each type above and the schema object it describes ("#/properties/x" or "#/$defs/x"),
# checked key for key by tests/test_metrics_types.py.
SCHEMA_OF: dict[str, Any] = {
    "#": Metrics, "#/properties/experiment": Experiment,
    "#/properties/experiment/properties/signatures": Signature,
    "#/properties/model": Model, "#/properties/model/properties/history": History,
    "#/$defs/layer": Layer, "#/$defs/path_row": PathRow, "#/properties/paths": Paths,
    "#/$defs/ood_row": OodRow, "#/properties/answers": Answers,
    "#/properties/projection": Projection,
    "#/$defs/snapshot": Snapshot,
    "#/$defs/snapshot/properties/layers/items": SnapshotLayer,
    "#/properties/projection/properties/layers/items": ProjectionLayer,
    "#/$defs/separation": Separation, "#/$defs/signatures_differ": SignaturesDiffer,
    "#/$defs/unseen_class": Unseen, "#/$defs/detection_summary": DetectionSummary,
}
