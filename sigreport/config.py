"""Experiment configuration: TOML files, shipped presets, ``--set`` overrides.

Every field of the frozen dataclasses declares its check (:mod:`sigreport.checks`),
run whenever a config is made: from a TOML file, ``--set``, ``Config(...)`` or
``dataclasses.replace`` in Python alike. The stages after this assume valid
input. Each error names the key, the value received and what was expected, in
one line.
"""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

from sigreport import checks as C
from sigreport.checks import ALL, RESERVED_NAMES
from sigreport.errors import ConfigError

__all__ = [
    "ALL",
    "DATASET_NAMES",
    "DEFAULT_PRESET",
    "N_DATASET_CLASSES",
    "RESERVED_NAMES",
    "AnalysisConfig",
    "Config",
    "DataConfig",
    "ModelConfig",
    "ReportConfig",
    "SignaturesConfig",
    "TrainConfig",
    "config_to_dict",
    "config_to_toml",
    "ignored_training_keys",
    "list_presets",
    "load_config",
    "names_a_file",
    "override_config",
    "question_title",
    "read_text_file",
    "read_toml",
]

DEFAULT_PRESET = "mnist-1-7"

ACTIVATIONS = ("relu", "tanh", "sigmoid", "gelu", "elu", "leaky_relu")
LOSSES = ("cross_entropy", "mse")
OPTIMIZERS = ("adam", "adamw", "sgd")
DATASETS = ("mnist", "fashion-mnist")
DATASET_NAMES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}  # in the report's words
CLUSTER_METHODS = ("kmeans", "gmm", "agglomerative", "hdbscan")
K_RULES = ("silhouette", "silhouette-max-classes")
PROJECTIONS = ("pca", "tsne", "umap")
SELECTIONS = ("random", "first")
PROBE_SPLITS = ("test", "train")
INITIALIZERS = ("lecun_normal", "glorot_uniform")
FIT_ON = ("train", "train+probe")
SEPARATION_MEASURES = ("cka_labels", "cluster_class_ami", "linear_probe_accuracy")
# Each separation measure's name in the report's words (answers, figures, glossary).
MEASURE_NAMES = {
    "cka_labels": "CKA with the labels",
    "cluster_class_ami": "cluster / class AMI",
    "linear_probe_accuracy": "linear probe accuracy",
}
# Where the measured network comes from (model.source): trained here, an ONNX file, an
# activations file; the built-in networks (model.kind); how a convolutional output
# [N, C, H, W] becomes one value per channel (model.pool).
MODEL_SOURCES = ("train", "onnx", "activations")
MODEL_KINDS = ("mlp", "cnn")
POOLS = ("mean", "max", "flatten")

# Every supported dataset has the ten classes 0..9.
N_DATASET_CLASSES = 10


def _field(check: C.Check, default: Any) -> Any:
    """A config field whose value ``check`` validates whenever the dataclass is made."""
    return field(default=default, metadata={"check": check})


class _Checked:
    """Validates every field on construction (``Config(...)``, ``dataclasses.replace``,
    the TOML loader alike) and normalises it (lists become tuples), then the class's
    rules across fields. A ``None`` default stays allowed: it means "not set"."""

    _section: ClassVar[str] = ""

    def __post_init__(self) -> None:
        prefix = f"{self._section}." if self._section else ""
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            check = f.metadata.get("check")
            value = getattr(self, f.name)
            if check is None or (value is None and f.default is None):
                continue
            object.__setattr__(self, f.name, check(prefix + f.name, value))
        self._check_across()

    def _check_across(self) -> None:
        """Rules that involve several fields of the section."""


# Any label id: a data set's own ids are checked once it is known (data.prepare.check_counts).
_CLASS_IDS = C.int_list(0)


@dataclass(frozen=True)
class DataConfig(_Checked):
    _section: ClassVar[str] = "data"

    dataset: str = _field(C.choice(*DATASETS), "mnist")
    # A folder of the four IDX files, or an .npz file of images x and labels y
    # (sigreport/data/npz.py); None: data.dataset's own source.
    path: str | None = _field(C.string, None)
    download: bool = _field(C.boolean, False)
    classes: tuple[int, ...] = _field(_CLASS_IDS, (1, 7))
    probe_classes: tuple[int, ...] = _field(_CLASS_IDS, (3,))
    # a number of images per class, or "all" (every image of each class)
    n_per_class: int | str = _field(C.count, 5000)
    n_test_per_class: int | str | None = _field(C.count, None)
    # "random": a seeded draw per class; "first": the first images in file order.
    selection: str = _field(C.choice(*SELECTIONS), "random")
    # The source split of the probe images; the probe classes are never trained on either way.
    probe_split: str = _field(C.choice(*PROBE_SPLITS), "test")
    # Probe images per class (or "all"); None: as many as the split they come from gets
    # (n_test_per_class for "test", n_per_class for "train").
    n_probe_per_class: int | str | None = _field(C.count, None)

    def _check_across(self) -> None:
        if len(self.classes) < 2:
            raise C.invalid("data.classes", list(self.classes),
                            "at least two classes to tell apart")
        overlap = sorted(set(self.classes) & set(self.probe_classes))
        if overlap:
            raise C.invalid(
                "data.probe_classes",
                list(self.probe_classes),
                "classes the network is not trained on (overlaps data.classes at "
                f"{C.show(overlap)})",
            )


def _str_list(key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not value or not all(
            isinstance(v, str) and v for v in value):
        raise C.invalid(key, value, "a non-empty list of non-empty strings")
    dupes = sorted({v for v in value if list(value).count(v) > 1})
    if dupes:
        raise C.invalid(key, value, f"no duplicates (repeated: {C.show(dupes)})")
    return tuple(value)


@dataclass(frozen=True)
class ModelConfig(_Checked):
    _section: ClassVar[str] = "model"

    hidden: tuple[int, ...] = _field(C.int_list(1, 65536, min_len=1, unique=False), (64, 32, 16))
    activation: str = _field(C.choice(*ACTIVATIONS), "relu")
    loss: str = _field(C.choice(*LOSSES), "cross_entropy")
    init: str = _field(C.choice(*INITIALIZERS), "lecun_normal")
    # --- the network's door (see site/own-network.md). None keeps each key's default
    # out of config.toml and the cache key, so a run that sets none of them is unchanged.
    # source: None or "train" (trained here), "onnx" (path = an ONNX classifier),
    # "activations" (path = an .npz of recorded layers).
    source: str | None = _field(C.choice(*MODEL_SOURCES), None)
    path: str | None = _field(C.string, None)
    # ONNX node-output names to record; None: every activation function's output.
    layers: tuple[str, ...] | None = _field(_str_list, None)
    # A convolutional output per channel: "mean" (None), "max" or "flatten".
    pool: str | None = _field(C.choice(*POOLS), None)
    # The built-in network: "mlp" (None) or "cnn" with conv = channels per block.
    kind: str | None = _field(C.choice(*MODEL_KINDS), None)
    conv: tuple[int, ...] | None = _field(C.int_list(1, 4096, min_len=1, unique=False), None)

    def _check_across(self) -> None:
        _check_model(self)

    @property
    def network_source(self) -> str:
        """Where the network comes from: "train", "onnx" or "activations"."""
        return self.source or "train"

    @property
    def network_kind(self) -> str:
        """The built-in network trained here: "mlp" or "cnn"."""
        return self.kind or "mlp"

    @property
    def pooling(self) -> str:
        """How a convolutional output is reduced per channel: "mean", "max" or "flatten"."""
        return self.pool or "mean"


@dataclass(frozen=True)
class TrainConfig(_Checked):
    _section: ClassVar[str] = "train"

    epochs: int = _field(C.integer(1, 100000), 10)
    batch_size: int = _field(C.integer(1), 128)
    learning_rate: float = _field(C.number(0.0, lo_open=True), 1e-3)
    optimizer: str = _field(C.choice(*OPTIMIZERS), "adam")
    momentum: float = _field(C.number(0.0, 0.999), 0.9)
    weight_decay: float = _field(C.number(0.0), 0.0)
    snapshot_epochs: tuple[int, ...] | None = _field(C.int_list(0), None)
    # Adam's epsilon (adam, adamw); optax's default.
    epsilon: float = _field(C.number(0.0, lo_open=True), 1e-8)
    # Drop the last partial batch of each epoch (every step has the same shape), or
    # keep it as a smaller step (as Keras does).
    drop_last: bool = _field(C.boolean, True)

    def _check_across(self) -> None:
        late = [e for e in self.snapshot_epochs or () if e > self.epochs]
        if late:
            raise C.invalid("train.snapshot_epochs", late,
                            f"epochs between 0 and train.epochs = {self.epochs}")


@dataclass(frozen=True)
class SignaturesConfig(_Checked):
    _section: ClassVar[str] = "signatures"

    method: str = _field(C.choice(*CLUSTER_METHODS), "kmeans")
    k: int | None = _field(C.integer(2, 1000), None)
    # 1: a single cluster is a candidate too, scored 0 (the original study's rule).
    k_min: int = _field(C.integer(1, 2), 2)
    k_max: int = _field(C.integer(2, 1000), 12)
    k_rule: str = _field(C.choice(*K_RULES), "silhouette")
    standardize: bool = _field(C.boolean, False)
    subsample: int = _field(C.integer(100), 2000)
    specific_threshold: float = _field(C.number(0.5, 1.0, lo_open=True), 0.9)
    min_support: int = _field(C.integer(1), 10)
    boundary_quantile: float = _field(C.number(0.5, 1.0, lo_open=True), 0.99)
    # The rows the clusters and regions are fitted on: the training split, or the
    # training and probe splits together (then the probe is no longer unseen by them).
    fit_on: str = _field(C.choice(*FIT_ON), "train")
    # k-means restarts of each candidate k, on the subsample.
    k_n_init: int = _field(C.integer(1, 1000), 2)
    # k-means restarts of the final fit on all rows; None: one run started from
    # the chosen candidate's solution.
    n_init: int | None = _field(C.integer(1, 1000), None)

    def _check_across(self) -> None:
        if self.k is not None and self.k > self.k_max:
            raise C.invalid("signatures.k", self.k, f"at most signatures.k_max = {self.k_max}")


@dataclass(frozen=True)
class AnalysisConfig(_Checked):
    _section: ClassVar[str] = "analysis"

    separation_measure: str = _field(C.choice(*SEPARATION_MEASURES), "cka_labels")
    n_bootstrap: int = _field(C.integer(20, 10000), 200)
    path_noise: float = _field(C.number(0.0, 1.0), 0.05)
    knn_k: int = _field(C.integer(1, 1000), 10)
    cka_subsample: int = _field(C.integer(10), 2000)
    probe_subsample: int = _field(C.integer(100), 20000)
    knn_reference: int = _field(C.integer(100), 30000)


@dataclass(frozen=True)
class ReportConfig(_Checked):
    _section: ClassVar[str] = "report"

    projection: str = _field(C.choice(*PROJECTIONS), "pca")
    max_points: int = _field(C.integer(10, 100000), 1500)


_SECTION_TYPES: dict[str, type[_Checked]] = {
    "data": DataConfig,
    "model": ModelConfig,
    "train": TrainConfig,
    "signatures": SignaturesConfig,
    "analysis": AnalysisConfig,
    "report": ReportConfig,
}


@dataclass(frozen=True)
class Config(_Checked):
    name: str = _field(C.folder_name, DEFAULT_PRESET)
    title: str = _field(C.string, "")
    seed: int = _field(C.integer(0, 2**31 - 1), 0)
    seeds: tuple[int, ...] = _field(C.int_list(0, 2**31 - 1), ())
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    signatures: SignaturesConfig = field(default_factory=SignaturesConfig)
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)
    report: ReportConfig = field(default_factory=ReportConfig)

    def _check_across(self) -> None:
        for section, kind in _SECTION_TYPES.items():
            value = getattr(self, section)
            if not isinstance(value, kind):
                raise C.invalid(section, value, f"a {kind.__name__}")

    @property
    def all_seeds(self) -> tuple[int, ...]:
        """The seeds to train with: ``seeds`` when given, else ``(seed,)``. A network from
        outside is measured once, its control drawn with the first: the default preset's
        seeds do not stop such a run (its report says one network was given)."""
        seeds = self.seeds if self.seeds else (self.seed,)
        return seeds if self.model.network_source == "train" else seeds[:1]


def _keys(kind: type[_Checked]) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(kind) if "check" in f.metadata)  # type: ignore[arg-type]


def _all_keys() -> list[str]:
    keys = list(_keys(Config))
    for section, kind in _SECTION_TYPES.items():
        keys += [f"{section}.{k}" for k in _keys(kind)]
    keys += list(_SECTION_TYPES)
    return keys


def _unknown(key: str) -> ConfigError:
    close = difflib.get_close_matches(key, _all_keys(), n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ConfigError(f"unknown key {key!r}{hint}")


def _validate(raw: dict[str, Any]) -> Config:
    """Check that every key of a nested TOML mapping is known, then build the config
    (which checks every value)."""
    top: dict[str, Any] = {}
    sections: dict[str, dict[str, Any]] = {s: {} for s in _SECTION_TYPES}
    top_keys = _keys(Config)
    for key, value in raw.items():
        if key in _SECTION_TYPES:
            if not isinstance(value, dict):
                raise C.invalid(key, value, f"a table [{key}]")
            known = _keys(_SECTION_TYPES[key])
            for sub, subvalue in value.items():
                if sub not in known:
                    raise _unknown(f"{key}.{sub}")
                sections[key][sub] = subvalue
        elif key in top_keys:
            top[key] = value
        else:
            raise _unknown(key)
    built: dict[str, Any] = {s: _SECTION_TYPES[s](**v) for s, v in sections.items()}
    return Config(**top, **built)


# Keys that describe how a network is trained here: they do not apply to an outside one.
TRAINING_MODEL_KEYS = ("hidden", "activation", "loss", "init", "kind", "conv")


def _check_model(model: ModelConfig) -> None:
    """The [model] section's cross-field rules: a network's door and the keys that go with it.

    An outside network (source "onnx" or "activations") needs ``path`` and takes no
    ``kind`` or ``conv`` (they would train something); the other training keys ([train],
    hidden, activation, ...) are ignored with a warning by the run
    (:func:`ignored_training_keys`), so a preset's defaults still load, and only the first
    of several ``seeds`` is used (:attr:`Config.all_seeds`). ``layers`` belongs to ONNX,
    ``conv`` to the CNN, ``pool`` to both.
    """
    source = model.network_source
    outside = source != "train"
    if outside and model.path is None:
        raise ConfigError(f'model.source = "{source}": expected model.path, the file to read')
    if not outside and model.path is not None:
        raise C.invalid("model.path", model.path,
                        'no path unless model.source is "onnx" or "activations"')
    if model.layers is not None and source != "onnx":
        raise C.invalid("model.layers", list(model.layers), 'model.source = "onnx"')
    kind = model.network_kind
    if outside:
        for key in ("kind", "conv"):
            value = getattr(model, key)
            if value is not None:
                raise C.invalid(f"model.{key}", list(value) if isinstance(value, tuple) else value,
                                f'no model.{key} with model.source = "{source}" (the network '
                                "comes from the file, nothing is trained)")
    if kind == "cnn" and model.conv is None:
        raise ConfigError('model.kind = "cnn": expected model.conv, the channels of each '
                          "convolutional block (e.g. [16, 32])")
    if model.conv is not None and kind != "cnn":
        raise C.invalid("model.conv", list(model.conv), 'model.kind = "cnn"')
    if model.pool is not None and (source == "activations" or (source == "train"
                                                                and kind != "cnn")):
        raise C.invalid("model.pool", model.pool, 'model.source = "onnx" or model.kind = "cnn"')


# Keys that choose and sample images: an activations file brings its own rows. (Its labels
# are checked against data.classes and data.probe_classes; data.dataset names the classes.)
SAMPLING_DATA_KEYS = ("path", "download", "n_per_class", "n_test_per_class", "selection",
                      "probe_split", "n_probe_per_class")


def ignored_training_keys(config: Config) -> list[str]:
    """The training keys ``config`` sets to something other than their defaults while its
    network comes from outside (they are ignored; the run warns about them). For recorded
    activations (model.source = "activations") also the keys that sample images, and
    analysis.path_noise (noisy images need the network itself)."""
    source = config.model.network_source
    if source == "train":
        return []
    keys = [f"model.{k}" for k in TRAINING_MODEL_KEYS
            if getattr(config.model, k) != getattr(ModelConfig(), k)]
    keys += [f"train.{f.name}" for f in dataclasses.fields(TrainConfig)
             if getattr(config.train, f.name) != getattr(TrainConfig(), f.name)]
    if source == "activations":
        keys += [f"data.{k}" for k in SAMPLING_DATA_KEYS
                 if getattr(config.data, k) != getattr(DataConfig(), k)]
        if config.analysis.path_noise != AnalysisConfig().path_noise:
            keys.append("analysis.path_noise")
    return keys


# --- sources: files, presets, overrides -----------------------------------


def list_presets() -> list[str]:
    """Names of the presets shipped inside the package, sorted."""
    folder = resources.files("sigreport") / "presets"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


# Tables and arrays nested deeper than this are no experiment's or sweep's (a sweep's
# axes need four levels); deeper TOML would exhaust the parser's recursion.
MAX_TOML_DEPTH = 32


def _too_deep(where: str) -> ConfigError:
    return ConfigError(f"{where}: tables and arrays nested more than {MAX_TOML_DEPTH} levels "
                       f"deep; expected at most {MAX_TOML_DEPTH}")


def _check_depth(value: Any, where: str) -> Any:
    """``value``, or a one-line error when its tables and arrays nest too deeply."""
    stack = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_TOML_DEPTH:
            raise _too_deep(where)
        if isinstance(node, dict):
            stack += [(v, depth + 1) for v in node.values()]
        elif isinstance(node, list):
            stack += [(v, depth + 1) for v in node]
    return value


def read_toml(text: str, where: str) -> dict[str, Any]:
    """The TOML ``text`` as a mapping, or a one-line error naming ``where`` it came from."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: malformed TOML: {exc}") from None
    except RecursionError:
        raise _too_deep(where) from None
    return _check_depth(doc, where)


def names_a_file(source: str) -> bool:
    """Whether ``source`` names a file (rather than a preset)."""
    # is_file, not exists: a folder named like a preset (a report folder) is not a config.
    return source.endswith(".toml") or Path(source).is_file() or "/" in source or "\\" in source


def read_text_file(source: str, kind: str = "config") -> str:
    """The text of a ``kind`` file (config, sweep), or a one-line error."""
    path = Path(source)
    if not path.is_file():
        raise ConfigError(f"{kind} file {source!r} does not exist")
    try:
        # utf-8-sig: some editors save UTF-8 with a byte order mark first.
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{kind} file {source!r} cannot be read: {exc}") from None


def _load_source(source: str) -> dict[str, Any]:
    if names_a_file(source):
        return read_toml(read_text_file(source), source)
    presets = list_presets()
    if source not in presets:
        close = difflib.get_close_matches(source, presets, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(
            f"unknown preset {source!r}{hint}; presets: {', '.join(presets)}; "
            "or give the path of a .toml file"
        )
    text = (resources.files("sigreport") / "presets" / f"{source}.toml").read_text("utf-8")
    return read_toml(text, f"preset {source!r}")


def _apply_override(raw: dict[str, Any], assignment: str) -> None:
    key, sep, text = assignment.partition("=")
    key = key.strip()
    if "\n" in assignment or "\r" in assignment:
        # TOML would read the next line as another key and drop it silently.
        raise ConfigError(f"--set {assignment!r}: expected KEY=VALUE on one line")
    if not sep or not key:
        raise ConfigError(f"--set {assignment!r}: expected KEY=VALUE, e.g. --set train.epochs=3")
    try:
        value = _check_depth(tomllib.loads(f"v = {text.strip()}")["v"], f"--set {key}")
    except tomllib.TOMLDecodeError:
        raise ConfigError(
            f"--set {key}={text}: the value is not a TOML value "
            "(strings need quotes: --set 'name=\"x\"'; lists: --set data.classes=[1,3,7])"
        ) from None
    except RecursionError:
        raise _too_deep(f"--set {key}") from None
    parts = key.split(".")
    if len(parts) > 2:
        raise _unknown(key)
    if len(parts) == 2:
        if parts[0] not in _SECTION_TYPES:
            raise _unknown(key)
        section = raw.setdefault(parts[0], {})
        if not isinstance(section, dict):
            raise C.invalid(parts[0], section, f"a table [{parts[0]}]")
        section[parts[1]] = value
    else:
        raw[key] = value


def load_config(source: str | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Load an experiment from a TOML file or a preset name, apply overrides, validate.

    Parameters
    ----------
    source:
        Path to a ``.toml`` file, or the name of a shipped preset. ``None`` means
        the default preset.
    overrides:
        ``KEY=VALUE`` strings; VALUE is parsed as a TOML value.

    Raises
    ------
    ConfigError
        With a one-line message naming the key, the value and what was expected.
    """
    raw = _load_source(source or DEFAULT_PRESET)
    if source is not None and source not in list_presets():
        # A file without a name reports under its own name, never over the default's.
        raw.setdefault("name", Path(source).stem)
    _apply_overrides(raw, overrides)
    return _validate(raw)


# What a run asks (the data and its classes); a preset's title names its own answer to it.
_QUESTION_KEYS = ("dataset", "path", "classes", "probe_classes")


def _question(raw: dict[str, Any]) -> tuple[Any, ...]:
    data = raw.get("data")
    data = data if isinstance(data, dict) else {}
    return tuple(data.get(key, getattr(DataConfig, key)) for key in _QUESTION_KEYS)


def question_title(dataset: str, classes: Any, probes: Any) -> str:
    """A title in the presets' words, from what a run asks: "MNIST 2 vs 5, probed with 3"."""
    def ids(values: Any) -> list[str]:
        return [str(v) for v in values] if isinstance(values, list | tuple) else [str(values)]

    trained, probed = ids(classes), ids(probes)
    head = " vs ".join(trained) if len(trained) == 2 else "classes " + ", ".join(trained)
    tail = f", probed with {' and '.join(probed)}" if probed else ""
    return f"{DATASET_NAMES.get(dataset, str(dataset))} {head}{tail}"


def _apply_overrides(raw: dict[str, Any], overrides: list[str] | tuple[str, ...]) -> None:
    """Apply ``KEY=VALUE`` overrides to ``raw``; one that changes what the run asks and
    leaves its title as it was gives it a title from what it now asks, so that a preset's
    title ("MNIST 1 vs 7, probed with 3") never names a question the run did not ask."""
    asked, title = _question(raw), raw.get("title")
    for assignment in overrides:
        _apply_override(raw, assignment)
    if title and raw.get("title") == title and _question(raw) != asked:
        dataset, _, classes, probes = _question(raw)
        raw["title"] = question_title(dataset, classes, probes)


def override_config(config: Config, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """``config`` with ``KEY=VALUE`` overrides applied, checked as :func:`load_config` checks."""
    if not overrides:
        return config
    raw = config_to_dict(config)
    _apply_overrides(raw, overrides)
    return _validate(raw)


def config_to_dict(config: Config) -> dict[str, Any]:
    """The config as plain TOML-compatible values (tuples become lists, None omitted)."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            return {
                f.name: plain(getattr(value, f.name))
                for f in dataclasses.fields(value)
                if getattr(value, f.name) is not None
            }
        if isinstance(value, tuple):
            return [plain(v) for v in value]
        return value

    return plain(config)


def config_to_toml(config: Config) -> str:
    """The resolved config as a TOML file that :func:`load_config` reads back unchanged."""
    plain = config_to_dict(config)
    lines = [f"{k} = {C.toml_value(v)}" for k, v in plain.items() if not isinstance(v, dict)]
    for section, values in plain.items():
        if isinstance(values, dict):
            lines.append(f"\n[{section}]")
            lines += [f"{k} = {C.toml_value(v)}" for k, v in values.items()]
    return "\n".join(lines) + "\n"
