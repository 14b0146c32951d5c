"""Experiment configuration: TOML files, shipped presets, ``--set`` overrides.

Everything is validated once, here, and turned into frozen dataclasses; the
stages after this assume valid input. Each error names the key, the value
received and what was expected, in one line.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from sigreport.errors import ConfigError

__all__ = [
    "DEFAULT_PRESET",
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
]

DEFAULT_PRESET = "mnist-1-7"

ACTIVATIONS = ("relu", "tanh", "sigmoid", "gelu", "elu", "leaky_relu")
LOSSES = ("cross_entropy", "mse")
OPTIMIZERS = ("adam", "adamw", "sgd")
DATASETS = ("mnist", "fashion-mnist")
CLUSTER_METHODS = ("kmeans", "gmm", "agglomerative", "hdbscan")
K_RULES = ("silhouette", "silhouette-max-classes")
PROJECTIONS = ("pca", "tsne", "umap")
SELECTIONS = ("random", "first")
PROBE_SPLITS = ("test", "train")
INITIALIZERS = ("lecun_normal", "glorot_uniform")
FIT_ON = ("train", "train+probe")
SEPARATION_MEASURES = ("cka_labels", "cluster_class_ami", "linear_probe_accuracy")
# Where the measured network comes from (model.source): trained here, an ONNX file, an
# activations file; the built-in networks (model.kind); how a convolutional output
# [N, C, H, W] becomes one value per channel (model.pool).
MODEL_SOURCES = ("train", "onnx", "activations")
MODEL_KINDS = ("mlp", "cnn")
POOLS = ("mean", "max", "flatten")

# data.n_per_class and data.n_test_per_class: every image of each class.
ALL = "all"
# Every supported dataset has the ten classes 0..9.
N_DATASET_CLASSES = 10
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
# Names the site's own pages take: runs/<name>.md would replace runs/index.md (the
# comparison), and MkDocs turns a README.md into its folder's index. Compared in
# lower case, for file systems that ignore case.
RESERVED_NAMES = ("index", "readme")


@dataclass(frozen=True)
class DataConfig:
    dataset: str = "mnist"
    path: str | None = None
    download: bool = False
    classes: tuple[int, ...] = (1, 7)
    probe_classes: tuple[int, ...] = (3,)
    # a number of images per class, or "all" (every image of each class)
    n_per_class: int | str = 5000
    n_test_per_class: int | str | None = None
    # "random": a seeded draw per class; "first": the first images in file order.
    selection: str = "random"
    # The source split of the probe images; the probe classes are never trained on either way.
    probe_split: str = "test"
    # Probe images per class (or "all"); None: as many as the split they come from gets
    # (n_test_per_class for "test", n_per_class for "train").
    n_probe_per_class: int | str | None = None


@dataclass(frozen=True)
class ModelConfig:
    hidden: tuple[int, ...] = (64, 32, 16)
    activation: str = "relu"
    loss: str = "cross_entropy"
    init: str = "lecun_normal"
    # --- the network's door (see site/own-network.md). None keeps each key's default
    # out of config.toml and the cache key, so a run that sets none of them is unchanged.
    # source: None or "train" (trained here), "onnx" (path = an ONNX classifier),
    # "activations" (path = an .npz of recorded layers).
    source: str | None = None
    path: str | None = None
    # ONNX node-output names to record; None: every activation function's output.
    layers: tuple[str, ...] | None = None
    # A convolutional output per channel: "mean" (None), "max" or "flatten".
    pool: str | None = None
    # The built-in network: "mlp" (None) or "cnn" with conv = channels per block.
    kind: str | None = None
    conv: tuple[int, ...] | None = None

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
class TrainConfig:
    epochs: int = 10
    batch_size: int = 128
    learning_rate: float = 1e-3
    optimizer: str = "adam"
    momentum: float = 0.9
    weight_decay: float = 0.0
    snapshot_epochs: tuple[int, ...] | None = None
    # Adam's epsilon (adam, adamw); optax's default.
    epsilon: float = 1e-8
    # Drop the last partial batch of each epoch (every step has the same shape), or
    # keep it as a smaller step (as Keras does).
    drop_last: bool = True


@dataclass(frozen=True)
class SignaturesConfig:
    method: str = "kmeans"
    k: int | None = None
    # 1: a single cluster is a candidate too, scored 0 (the original study's rule).
    k_min: int = 2
    k_max: int = 12
    k_rule: str = "silhouette"
    standardize: bool = False
    subsample: int = 2000
    specific_threshold: float = 0.9
    min_support: int = 10
    boundary_quantile: float = 0.99
    # The rows the clusters and regions are fitted on: the training split, or the
    # training and probe splits together (then the probe is no longer unseen by them).
    fit_on: str = "train"
    # k-means restarts of each candidate k, on the subsample.
    k_n_init: int = 2
    # k-means restarts of the final fit on all rows; None: one run started from
    # the chosen candidate's solution.
    n_init: int | None = None


@dataclass(frozen=True)
class AnalysisConfig:
    separation_measure: str = "cka_labels"
    n_bootstrap: int = 200
    path_noise: float = 0.05
    knn_k: int = 10
    cka_subsample: int = 2000
    probe_subsample: int = 20000
    knn_reference: int = 30000


@dataclass(frozen=True)
class ReportConfig:
    projection: str = "pca"
    max_points: int = 1500


@dataclass(frozen=True)
class Config:
    name: str = DEFAULT_PRESET
    title: str = ""
    seed: int = 0
    seeds: tuple[int, ...] = ()
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    signatures: SignaturesConfig = field(default_factory=SignaturesConfig)
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)
    report: ReportConfig = field(default_factory=ReportConfig)

    @property
    def all_seeds(self) -> tuple[int, ...]:
        """The seeds to train with: ``seeds`` when given, else ``(seed,)``."""
        return self.seeds if self.seeds else (self.seed,)


# --- field checks ---------------------------------------------------------
# A check takes (key, value) and returns the normalised value or raises.

Check = Callable[[str, Any], Any]


def _fail(key: str, value: Any, expected: str) -> ConfigError:
    return ConfigError(f"{key} = {_show(value)}: expected {expected}")


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return str(value)


def _int(lo: int | None = None, hi: int | None = None) -> Check:
    def check(key: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(key, value, "an integer")
        if lo is not None and value < lo:
            raise _fail(key, value, f"an integer >= {lo}")
        if hi is not None and value > hi:
            raise _fail(key, value, f"an integer <= {hi}")
        return value

    return check


def _float(lo: float | None = None, hi: float | None = None, lo_open: bool = False) -> Check:
    def check(key: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(key, value, "a number")
        value = float(value)
        if value != value or value in (float("inf"), float("-inf")):
            raise _fail(key, value, "a finite number")
        if lo is not None and (value <= lo if lo_open else value < lo):
            raise _fail(key, value, f"a number {'>' if lo_open else '>='} {lo}")
        if hi is not None and value > hi:
            raise _fail(key, value, f"a number <= {hi}")
        return value

    return check


def _count(key: str, value: Any) -> int | str:
    if value == ALL:
        return ALL
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _fail(key, value, f'an integer >= 1, or "{ALL}" for every image of each class')
    return value


def _bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _fail(key, value, "true or false")
    return value


def _str(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _fail(key, value, "a string")
    return value


def _choice(*options: str) -> Check:
    def check(key: str, value: Any) -> str:
        if not isinstance(value, str) or value not in options:
            raise _fail(key, value, "one of " + ", ".join(repr(o) for o in options))
        return value

    return check


def _int_list(lo: int, hi: int | None = None, min_len: int = 0, unique: bool = True) -> Check:
    item = _int(lo, hi)

    def check(key: str, value: Any) -> tuple[int, ...]:
        if not isinstance(value, list):
            raise _fail(key, value, "a list of integers")
        out = tuple(item(key, v) for v in value)
        if len(out) < min_len:
            raise _fail(key, value, f"a list of at least {min_len} integers")
        if unique:
            dupes = sorted({v for v in out if out.count(v) > 1})
            if dupes:
                raise _fail(key, value, f"no duplicates (repeated: {_show(dupes)})")
        return out

    return check


def _name(key: str, value: Any) -> str:
    value = _str(key, value)
    # fullmatch: with match, '$' also accepts a trailing newline in the folder name.
    if not _NAME_RE.fullmatch(value):
        raise _fail(
            key,
            value,
            "a folder name of letters, digits, '.', '_' or '-' that starts with a letter "
            "or digit (it must stay inside the output folder)",
        )
    if value.lower() in RESERVED_NAMES:
        raise _fail(key, value, "a name that is not one of the site's own pages ("
                    + ", ".join(repr(n) for n in RESERVED_NAMES) + ", in any case)")
    return value


def _str_list(key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(
            isinstance(v, str) and v for v in value):
        raise _fail(key, value, "a non-empty list of non-empty strings")
    dupes = sorted({v for v in value if value.count(v) > 1})
    if dupes:
        raise _fail(key, value, f"no duplicates (repeated: {_show(dupes)})")
    return tuple(value)


_CLASS_IDS = _int_list(0, N_DATASET_CLASSES - 1)

# Section -> key -> check. The dataclass defaults are the defaults.
_SPEC: dict[str, dict[str, Check]] = {
    "": {
        "name": _name,
        "title": _str,
        "seed": _int(0, 2**31 - 1),
        "seeds": _int_list(0, 2**31 - 1),
    },
    "data": {
        "dataset": _choice(*DATASETS),
        "path": _str,
        "download": _bool,
        "classes": _CLASS_IDS,
        "probe_classes": _CLASS_IDS,
        "n_per_class": _count,
        "n_test_per_class": _count,
        "selection": _choice(*SELECTIONS),
        "probe_split": _choice(*PROBE_SPLITS),
        "n_probe_per_class": _count,
    },
    "model": {
        "hidden": _int_list(1, 65536, min_len=1, unique=False),
        "activation": _choice(*ACTIVATIONS),
        "loss": _choice(*LOSSES),
        "init": _choice(*INITIALIZERS),
        "source": _choice(*MODEL_SOURCES),
        "path": _str,
        "layers": _str_list,
        "pool": _choice(*POOLS),
        "kind": _choice(*MODEL_KINDS),
        "conv": _int_list(1, 4096, min_len=1, unique=False),
    },
    "train": {
        "epochs": _int(1, 100000),
        "batch_size": _int(1),
        "learning_rate": _float(0.0, lo_open=True),
        "optimizer": _choice(*OPTIMIZERS),
        "momentum": _float(0.0, 0.999),
        "weight_decay": _float(0.0),
        "snapshot_epochs": _int_list(0),
        "epsilon": _float(0.0, lo_open=True),
        "drop_last": _bool,
    },
    "signatures": {
        "method": _choice(*CLUSTER_METHODS),
        "k": _int(2, 1000),
        "k_min": _int(1, 2),
        "k_max": _int(2, 1000),
        "k_rule": _choice(*K_RULES),
        "standardize": _bool,
        "subsample": _int(100),
        "specific_threshold": _float(0.5, 1.0, lo_open=True),
        "min_support": _int(1),
        "boundary_quantile": _float(0.5, 1.0, lo_open=True),
        "fit_on": _choice(*FIT_ON),
        "k_n_init": _int(1, 1000),
        "n_init": _int(1, 1000),
    },
    "analysis": {
        "separation_measure": _choice(*SEPARATION_MEASURES),
        "n_bootstrap": _int(20, 10000),
        "path_noise": _float(0.0, 1.0),
        "knn_k": _int(1, 1000),
        "cka_subsample": _int(10),
        "probe_subsample": _int(100),
        "knn_reference": _int(100),
    },
    "report": {
        "projection": _choice(*PROJECTIONS),
        "max_points": _int(10, 100000),
    },
}

_SECTION_TYPES = {
    "data": DataConfig,
    "model": ModelConfig,
    "train": TrainConfig,
    "signatures": SignaturesConfig,
    "analysis": AnalysisConfig,
    "report": ReportConfig,
}


def _all_keys() -> list[str]:
    keys = []
    for section, checks in _SPEC.items():
        keys += [f"{section}.{k}" if section else k for k in checks]
    keys += list(_SECTION_TYPES)
    return keys


def _unknown(key: str) -> ConfigError:
    close = difflib.get_close_matches(key, _all_keys(), n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ConfigError(f"unknown key {key!r}{hint}")


def _validate(raw: dict[str, Any]) -> Config:
    """Check every key of a nested TOML mapping and build the frozen config."""
    top: dict[str, Any] = {}
    sections: dict[str, dict[str, Any]] = {s: {} for s in _SECTION_TYPES}
    for key, value in raw.items():
        if key in _SECTION_TYPES:
            if not isinstance(value, dict):
                raise _fail(key, value, f"a table [{key}]")
            for sub, subvalue in value.items():
                full = f"{key}.{sub}"
                check = _SPEC[key].get(sub)
                if check is None:
                    raise _unknown(full)
                sections[key][sub] = check(full, subvalue)
        elif key in _SPEC[""]:
            top[key] = _SPEC[""][key](key, value)
        else:
            raise _unknown(key)

    data = sections["data"]
    classes = data.get("classes", DataConfig.classes)
    probes = data.get("probe_classes", DataConfig.probe_classes)
    if len(classes) < 2:
        raise _fail("data.classes", list(classes), "at least two classes to tell apart")
    overlap = sorted(set(classes) & set(probes))
    if overlap:
        raise _fail(
            "data.probe_classes",
            list(probes),
            f"classes the network is not trained on (overlaps data.classes at {_show(overlap)})",
        )
    sig = sections["signatures"]
    if "k" in sig and sig["k"] > sig.get("k_max", SignaturesConfig.k_max):
        raise _fail("signatures.k", sig["k"], f"at most signatures.k_max = {sig.get('k_max', 12)}")
    train = sections["train"]
    epochs = train.get("epochs", TrainConfig.epochs)
    late = [e for e in train.get("snapshot_epochs", ()) if e > epochs]
    if late:
        raise _fail("train.snapshot_epochs", late, f"epochs between 0 and train.epochs = {epochs}")

    _check_model(sections["model"], top)

    built = {s: _SECTION_TYPES[s](**v) for s, v in sections.items()}
    return Config(**top, **built)


# Keys that describe how a network is trained here: they do not apply to an outside one.
TRAINING_MODEL_KEYS = ("hidden", "activation", "loss", "init", "kind", "conv")


def _check_model(model: dict[str, Any], top: dict[str, Any]) -> None:
    """The [model] section's cross-field rules: a network's door and the keys that go with it.

    An outside network (source "onnx" or "activations") needs ``path`` and takes no
    ``kind``, ``conv`` or several ``seeds`` (they would train something); the other
    training keys ([train], hidden, activation, ...) are ignored with a warning by the
    run (:func:`ignored_training_keys`), so a preset's defaults still load. ``layers``
    belongs to ONNX, ``conv`` to the CNN, ``pool`` to both.
    """
    source = model.get("source", "train")
    outside = source != "train"
    if outside and "path" not in model:
        raise ConfigError(f'model.source = "{source}": expected model.path, the file to read')
    if not outside and "path" in model:
        raise _fail("model.path", model["path"],
                    'no path unless model.source is "onnx" or "activations"')
    if "layers" in model and source != "onnx":
        raise _fail("model.layers", list(model["layers"]), 'model.source = "onnx"')
    kind = model.get("kind", "mlp")
    if outside:
        for key in ("kind", "conv"):
            if key in model:
                raise _fail(f"model.{key}", model[key],
                            f'no model.{key} with model.source = "{source}" (the network '
                            "comes from the file, nothing is trained)")
        if len(top.get("seeds", ())) > 1:
            raise _fail("seeds", list(top["seeds"]),
                        f'one seed with model.source = "{source}" (one network is measured)')
    if kind == "cnn" and "conv" not in model:
        raise ConfigError('model.kind = "cnn": expected model.conv, the channels of each '
                          "convolutional block (e.g. [16, 32])")
    if "conv" in model and kind != "cnn":
        raise _fail("model.conv", list(model["conv"]), 'model.kind = "cnn"')
    if "pool" in model and source == "activations":
        raise _fail("model.pool", model["pool"], 'model.source = "onnx" or model.kind = "cnn"')
    if "pool" in model and source == "train" and kind != "cnn":
        raise _fail("model.pool", model["pool"], 'model.source = "onnx" or model.kind = "cnn"')


def ignored_training_keys(config: Config) -> list[str]:
    """The training keys ``config`` sets to something other than their defaults while its
    network comes from outside (they are ignored; the run warns about them)."""
    if config.model.network_source == "train":
        return []
    keys = [f"model.{k}" for k in TRAINING_MODEL_KEYS
            if getattr(config.model, k) != getattr(ModelConfig(), k)]
    keys += [f"train.{f.name}" for f in dataclasses.fields(TrainConfig)
             if getattr(config.train, f.name) != getattr(TrainConfig(), f.name)]
    return keys


# --- sources: files, presets, overrides -----------------------------------


def list_presets() -> list[str]:
    """Names of the presets shipped inside the package, sorted."""
    folder = resources.files("sigreport") / "presets"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def _read_toml(text: str, where: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: malformed TOML: {exc}") from None


def _names_a_file(source: str) -> bool:
    # is_file, not exists: a folder named like a preset (a report folder) is not a config.
    return source.endswith(".toml") or Path(source).is_file() or "/" in source or "\\" in source


def _read_file(source: str, kind: str = "config") -> str:
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
    if _names_a_file(source):
        return _read_toml(_read_file(source), source)
    presets = list_presets()
    if source not in presets:
        close = difflib.get_close_matches(source, presets, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(
            f"unknown preset {source!r}{hint}; presets: {', '.join(presets)}; "
            "or give the path of a .toml file"
        )
    text = (resources.files("sigreport") / "presets" / f"{source}.toml").read_text("utf-8")
    return _read_toml(text, f"preset {source!r}")


def _apply_override(raw: dict[str, Any], assignment: str) -> None:
    key, sep, text = assignment.partition("=")
    key = key.strip()
    if "\n" in assignment or "\r" in assignment:
        # TOML would read the next line as another key and drop it silently.
        raise ConfigError(f"--set {assignment!r}: expected KEY=VALUE on one line")
    if not sep or not key:
        raise ConfigError(f"--set {assignment!r}: expected KEY=VALUE, e.g. --set train.epochs=3")
    try:
        value = tomllib.loads(f"v = {text.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        raise ConfigError(
            f"--set {key}={text}: the value is not a TOML value "
            "(strings need quotes: --set 'name=\"x\"'; lists: --set data.classes=[1,3,7])"
        ) from None
    parts = key.split(".")
    if len(parts) > 2:
        raise _unknown(key)
    if len(parts) == 2:
        if parts[0] not in _SECTION_TYPES:
            raise _unknown(key)
        section = raw.setdefault(parts[0], {})
        if not isinstance(section, dict):
            raise _fail(parts[0], section, f"a table [{parts[0]}]")
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
    for assignment in overrides:
        _apply_override(raw, assignment)
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


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        # JSON string escapes are valid TOML basic-string escapes; DEL is the one
        # control character JSON leaves raw and TOML forbids.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def config_to_toml(config: Config) -> str:
    """The resolved config as a TOML file that :func:`load_config` reads back unchanged."""
    plain = config_to_dict(config)
    lines = [f"{k} = {_toml_value(v)}" for k, v in plain.items() if not isinstance(v, dict)]
    for section, values in plain.items():
        if isinstance(values, dict):
            lines.append(f"\n[{section}]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in values.items()]
    return "\n".join(lines) + "\n"
