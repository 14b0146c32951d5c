"""Activations recorded elsewhere, read from one ``.npz`` file (``model.source = "activations"``).

For a network that cannot be exported: record its layers yourself and give sigreport
the arrays. The file's contract (the guide, site/own-network.md, shows an example):

=========================  ======================================================
``layers``                 str (n_layers,): the recorded layers' names, input side first
``{split}_labels``         int (n,): each row's class id (train, test: of ``data.classes``;
                           probe: of ``data.probe_classes``)
``{split}_images``         the inputs as images (n, H, W) or (n, H, W, C), uint8 or float
                           in [0, 1] (thumbnails in the report), or instead
``{split}_inputs``         the inputs as vectors, float (n, n_features) (no thumbnails)
``{split}_layer{i}``       float (n, width_i): layer ``i`` (0-based) of ``layers``
``{split}_output``         float (n, n_classes): one score per class of ``data.classes`` in
                           sorted order, logits or probabilities (rows >= 0 summing to one)
``{split}_control_layer{i}``, ``{split}_control_output``
                           optional, all or none: the same layers of the untrained network
``class_names``            optional str (n_ids,): a name per class id
=========================  ======================================================

for each split of ``train``, ``test`` and ``probe``. :func:`open_activations_file` checks
all of it before any work (one :class:`~sigreport.errors.ConfigError` line per problem)
and returns :class:`RecordedNetwork`: the file's :class:`~sigreport.data.prepare.Dataset`
and its :class:`~sigreport.activations.Activations`, the same type
:func:`~sigreport.activations.capture_activations` returns, so every later stage reads
them unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sigreport.activations import (
    SPLITS,
    Activations,
    recorded_activations,
    recorded_split,
)
from sigreport.config import Config
from sigreport.data.npz import check_images, check_labels, read_npz
from sigreport.data.prepare import Dataset, Split
from sigreport.data.sources import SOURCES
from sigreport.errors import ConfigError, DataError

__all__ = ["RecordedNetwork", "open_activations_file"]

_RESERVED = ("input", "logits", "probs")
_KEY = re.compile(r"^(train|test|probe)_(labels|images|inputs|output|layer\d+|control_output"
                  r"|control_layer\d+)$")


@dataclass(frozen=True)
class RecordedNetwork:
    """A network known only by its recorded layers.

    ``recorded`` is what :func:`~sigreport.activations.capture_activations` returns for it
    (every split's input, layers, logits and probabilities); ``control_recorded`` the
    untrained network's, or None when the file gives none.
    """

    path: str
    layer_names: tuple[str, ...]
    output_kind: str
    dataset: Dataset
    recorded: Activations
    control_recorded: Activations | None
    inputs: str  # "images" or "vectors"

    def control(self, seed: int) -> RecordedNetwork | None:
        """The untrained network as the file recorded it (``seed`` does not apply), or None."""
        if self.control_recorded is None:
            return None
        return RecordedNetwork(self.path, self.layer_names, self.output_kind, self.dataset,
                               self.control_recorded, None, self.inputs)

    def describe(self) -> dict:
        """The network as the metrics record it."""
        return {"source": "activations", "file": Path(self.path).name,
                "layers": list(self.layer_names), "output": self.output_kind,
                "inputs": self.inputs, "control": self.control_recorded is not None,
                "snapshots": False}

    def activation_name(self) -> str:
        """The recorded layers' activation functions: not known from a file."""
        return "recorded"


def _fail(path: str, problem: str) -> ConfigError:
    return ConfigError(f"model.path = {path!r}: {problem}")


def _float_layer(arrays: dict, key: str, n: int, path: str) -> np.ndarray:
    value = arrays[key]
    if value.ndim != 2 or not (np.issubdtype(value.dtype, np.floating)
                               or np.issubdtype(value.dtype, np.integer)):
        raise _fail(path, f"{key} has shape {list(value.shape)} of {value.dtype}; expected "
                    f"numbers of shape ({n}, width) (pool or flatten a convolutional output "
                    "to one row per sample)")
    if len(value) != n:
        raise _fail(path, f"{key} has {len(value)} rows; {key.split('_')[0]}_labels has {n}")
    if value.shape[1] == 0:
        raise _fail(path, f"{key} has no columns")
    value = value.astype(np.float32, copy=False)
    if not np.isfinite(value).all():
        raise _fail(path, f"{key} holds non-finite values (NaN or infinity)")
    return value


def _looks_like_probabilities(scores: np.ndarray) -> bool:
    from sigreport.onnx_model import looks_like_probabilities

    return looks_like_probabilities(scores)


def open_activations_file(config: Config) -> RecordedNetwork:
    """Read and check the activations file ``config.model.path`` against ``config.data``'s
    classes (see the module's contract).

    Raises
    ------
    ConfigError
        Not a file, not an .npz file, ``layers`` missing or bad, a split or one of its
        arrays missing, an unknown key, rows that do not match the labels, widths that
        differ between splits, labels outside ``data.classes`` (``data.probe_classes`` for
        the probe), a class without rows, non-finite values, an incomplete control.
    """
    path = str(config.model.path)
    try:
        arrays, sha = read_npz(path, "model.path")
    except DataError as exc:
        raise ConfigError(str(exc)) from None
    if "layers" not in arrays:
        raise _fail(path, "no array 'layers' (the recorded layers' names, input side first)")
    names_arr = arrays["layers"]
    if names_arr.ndim != 1 or names_arr.dtype.kind not in "US" or not len(names_arr):
        raise _fail(path, "'layers' must be a non-empty list of strings, one name per layer")
    names = tuple(str(v) for v in names_arr.tolist())
    if any(not n for n in names) or len(set(names)) != len(names):
        raise _fail(path, "'layers' must hold distinct non-empty names")
    clash = [n for n in names if n in _RESERVED]
    if clash:
        raise _fail(path, f"'layers' names {clash[0]!r}, a name sigreport gives its own layers")
    n_layers = len(names)

    def known(key: str) -> bool:
        match = _KEY.match(key)
        if match is None:
            return key in ("layers", "class_names")
        number = re.search(r"layer(\d+)$", key)
        return number is None or int(number.group(1)) < n_layers

    unknown = sorted(k for k in arrays if not known(k))
    if unknown:
        raise _fail(path, f"unexpected array {unknown[0]!r} (expected layers, class_names and "
                    f"per split labels, images or inputs, layer0..layer{n_layers - 1}, output, "
                    "and optionally the control's)")
    classes = tuple(sorted(config.data.classes))
    probes = tuple(sorted(config.data.probe_classes))
    has_control = any("_control_" in k for k in arrays)
    inputs_kind = None
    image_shape = None
    raw: dict[str, dict] = {}
    for split in SPLITS:
        if f"{split}_labels" not in arrays:
            raise _fail(path, f"missing split {split!r}: no array {split}_labels")
        try:
            y = check_labels(arrays[f"{split}_labels"], len(arrays[f"{split}_labels"]),
                             f"{split}_labels")
        except DataError as exc:
            raise _fail(path, str(exc)) from None
        n = len(y)
        allowed = probes if split == "probe" else classes
        key = "data.probe_classes" if split == "probe" else "data.classes"
        outside = sorted(set(y.tolist()) - set(allowed))
        if outside:
            raise _fail(path, f"{split}_labels holds class {outside[0]}, not one of {key} = "
                        f"{list(allowed)}")
        absent = [c for c in allowed if not (y == c).any()]
        if absent:
            raise _fail(path, f"{split}_labels has no row of class {absent[0]} of {key}")
        given = [k for k in ("images", "inputs") if f"{split}_{k}" in arrays]
        if len(given) != 1:
            raise _fail(path, f"{split}: expected one of {split}_images or {split}_inputs "
                        f"(the inputs), got {len(given)}")
        kind = given[0]
        if inputs_kind is not None and kind != inputs_kind:
            raise _fail(path, f"{split} gives {kind} where the train split gives {inputs_kind}")
        inputs_kind = kind
        value = arrays[f"{split}_{kind}"]
        if kind == "images":
            try:
                shape = check_images(value, f"{split}_images")
            except DataError as exc:
                raise _fail(path, str(exc)) from None
            if len(value) != n:
                raise _fail(path, f"{split}_images has {len(value)} rows; {split}_labels has {n}")
            if image_shape is not None and shape != image_shape:
                raise _fail(path, f"{split}_images are {list(shape)}, train images "
                            f"{list(image_shape)}; expected one image shape")
            image_shape = shape
            x = value.reshape(n, -1)
            x = (x.astype(np.float32) / np.float32(255.0) if x.dtype == np.uint8
                 else x.astype(np.float32))
        else:
            x = _float_layer(arrays, f"{split}_inputs", n, path)
        needed = [f"{split}_layer{i}" for i in range(n_layers)] + [f"{split}_output"]
        if has_control:
            needed += [f"{split}_control_layer{i}" for i in range(n_layers)]
            needed += [f"{split}_control_output"]
        missing = [k for k in needed if k not in arrays]
        if missing:
            hint = " (a control gives every split's layers and output, or none)" \
                if "_control_" in missing[0] else ""
            raise _fail(path, f"missing array {missing[0]!r}{hint}")
        raw[split] = {"y": y, "x": x, **{k: _float_layer(arrays, k, n, path) for k in needed}}
    # Widths agree between the splits, the control's with the network's; one score per class.
    for i, name in enumerate(names):
        width = raw["train"][f"train_layer{i}"].shape[1]
        for split in SPLITS:
            for prefix in ("", "control_") if has_control else ("",):
                got = raw[split][f"{split}_{prefix}layer{i}"].shape[1]
                if got != width:
                    raise _fail(path, f"{split}_{prefix}layer{i} ({name}) is {got} wide; "
                                f"train_layer{i} is {width}")
    for split in SPLITS:
        if raw[split]["x"].shape[1] != raw["train"]["x"].shape[1]:
            raise _fail(path, f"{split}_{inputs_kind} is {raw[split]['x'].shape[1]} wide; "
                        f"train_{inputs_kind} is {raw['train']['x'].shape[1]}")
        for prefix in ("", "control_") if has_control else ("",):
            got = raw[split][f"{split}_{prefix}output"].shape[1]
            if got != len(classes):
                raise _fail(path, f"{split}_{prefix}output has {got} columns; expected "
                            f"{len(classes)}, one score per class of data.classes in sorted "
                            "order")

    names_of = SOURCES[config.data.dataset].class_names
    if "class_names" in arrays:
        given_names = arrays["class_names"]
        n_ids = max(classes + probes) + 1
        if given_names.ndim != 1 or given_names.dtype.kind not in "US" \
                or len(given_names) < n_ids:
            raise _fail(path, f"class_names must be {n_ids} or more strings, one per class id")
        names_of = tuple(str(v) for v in given_names.tolist())
    shape3 = None if image_shape is None else (
        image_shape[0], image_shape[1], image_shape[2] if len(image_shape) > 2 else 1)

    def split_of(split: str) -> Split:
        y = raw[split]["y"]
        onehot = (y[:, None] == np.asarray(classes)[None, :]).astype(np.float32)
        return Split(x=raw[split]["x"], y=y, onehot=onehot, index=np.arange(len(y)),
                     source=split, image_shape=image_shape)

    dataset = Dataset(name=Path(path).name, class_names=names_of, classes=classes,
                      probe_classes=probes, train=split_of("train"), test=split_of("test"),
                      probe=split_of("probe"), sha256=sha, licence="the file's own",
                      image_shape=shape3)
    ids = np.asarray(classes, dtype=np.int64)

    def recorded(prefix: str) -> tuple[Activations, str]:
        kind = ("probabilities" if _looks_like_probabilities(raw["train"][f"train_{prefix}output"])
                else "logits")
        splits = {split: recorded_split(
            getattr(dataset, split).x,
            {name: raw[split][f"{split}_{prefix}layer{i}"] for i, name in enumerate(names)},
            raw[split][f"{split}_{prefix}output"], kind, raw[split]["y"],
            getattr(dataset, split).index, split, ids) for split in SPLITS}
        return recorded_activations(names, classes, splits), kind

    acts, kind = recorded("")
    control = recorded("control_")[0] if has_control else None
    return RecordedNetwork(path=path, layer_names=names, output_kind=kind, dataset=dataset,
                           recorded=acts, control_recorded=control,
                           inputs="images" if inputs_kind == "images" else "vectors")
