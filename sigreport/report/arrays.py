"""The arrays a report's figures are drawn from, as plain data, saved beside the report.

:func:`figure_arrays` takes what a run measured (its data set, the clustered layers'
activations and signatures, the recorded epochs' signatures) and keeps what the page
draws: each split's classes, predictions, paths and clusters, the test and unseen
images as uint8, each specific path's training images (their mean and a seeded
sample), each layer's 2-D projection of the shown points, and per recorded epoch the
paths of the test and unseen images. Nothing in it is a number the page states (those are in
metrics.json); everything in it is what a figure or an image grid shows.

:func:`arrays_bytes` packs them as one compressed ``figures.npz`` (numpy arrays and one
JSON header, no pickles), which the pipeline writes with the report's other files;
:func:`load_arrays` reads it back, so a later sigreport can
draw an archived report again without the network or the data.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sigreport.analysis.types import Metrics, Projection
from sigreport.errors import OutputError
from sigreport.report.projection import Projections
from sigreport.sampling import seeded_subset

if TYPE_CHECKING:
    from sigreport.activations import Activations
    from sigreport.config import Config
    from sigreport.data import Dataset
    from sigreport.signatures import Signatures

__all__ = ["ARRAYS_FILE", "EXEMPLAR_SAMPLE", "Exemplar", "FigureArrays", "SplitArrays",
           "arrays_bytes", "figure_arrays", "load_arrays", "projection_metrics"]

ARRAYS_FILE = "figures.npz"
_FORMAT = 1
_SPLITS = ("train", "test", "probe")
# Training images kept per specific path: the exemplar grid's sample.
EXEMPLAR_SAMPLE = 12


@dataclass(frozen=True)
class SplitArrays:
    """One split's rows as the figures see them.

    Attributes
    ----------
    y, predicted:
        int64 (n,): the original class id and the predicted one.
    index:
        int64 (n,): each row's index in its source split of the data set.
    paths:
        int64 (n, n_path_layers): the cluster per hidden layer, -1 where unassigned.
    labels:
        layer name -> int64 (n,): the cluster in each clustered layer (input, hidden,
        logits); empty for the training split, whose clusters no figure colours.
    images:
        uint8 (n, *image_shape), or None when the inputs are no images; None for the
        training split too (its images are kept per specific path, :class:`Exemplar`).
    """

    y: np.ndarray
    predicted: np.ndarray
    index: np.ndarray
    paths: np.ndarray
    labels: dict[str, np.ndarray]
    images: np.ndarray | None

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True)
class Exemplar:
    """The training images on one specific path: how many, their mean, and a sample.

    ``mean`` is uint8 (*image_shape), the rounded mean of all ``n_train`` images;
    ``sample`` uint8 (k, *image_shape), a seeded choice of at most
    :data:`EXEMPLAR_SAMPLE` of them in their order. Both None without images.
    """

    n_train: int
    mean: np.ndarray | None
    sample: np.ndarray | None


@dataclass(frozen=True)
class FigureArrays:
    """Everything a report's figures are drawn from (metrics.json aside).

    ``snapshots`` maps each recorded epoch to its test and unseen images' rows (classes,
    predictions, paths), for the training section's small diagrams; empty when the run
    recorded none (an outside network). ``exemplars`` maps each specific path (as listed
    in metrics.json) that training images take to those images.
    """

    classes: tuple[int, ...]
    probe_classes: tuple[int, ...]
    class_names: tuple[str, ...]
    image_shape: tuple[int, ...] | None
    path_layers: tuple[str, ...]
    n_clusters: dict[str, int]
    train: SplitArrays
    test: SplitArrays
    probe: SplitArrays
    projection: Projections
    snapshots: dict[int, tuple[SplitArrays, SplitArrays]]
    exemplars: dict[tuple[int, ...], Exemplar]

    def split(self, name: str) -> SplitArrays:
        if name not in _SPLITS:
            raise KeyError(name)
        split: SplitArrays = getattr(self, name)
        return split


def _int64(a: Any) -> np.ndarray:
    return np.asarray(a, dtype=np.int64)


def _split_arrays(acts: Activations, sigs: Signatures, name: str, images: np.ndarray | None,
                  labelled: tuple[str, ...]) -> SplitArrays:
    a = acts.split(name)
    n_path = len(sigs.path_layers)
    paths = _int64(sigs.paths[name]).reshape(len(a.y), n_path)
    return SplitArrays(y=_int64(a.y), predicted=_int64(a.predicted), index=_int64(a.index),
                       paths=paths,
                       labels={layer: _int64(sigs.layer(layer).labels[name]) for layer in labelled},
                       images=images)


def _exemplars(images: np.ndarray | None, train_paths: np.ndarray,
               specific: list[tuple[int, ...]], seed: int) -> dict[tuple[int, ...], Exemplar]:
    out = {}
    for path in specific:
        rows = np.flatnonzero(np.all(train_paths == np.asarray(path)[None, :], axis=1))
        if not len(rows):
            continue
        if images is None:
            out[path] = Exemplar(len(rows), None, None)
            continue
        mean = np.rint(images[rows].astype(np.float32).mean(0)).astype(np.uint8)
        chosen = rows[seeded_subset(len(rows), EXEMPLAR_SAMPLE, seed, salt=len(rows))]
        out[path] = Exemplar(len(rows), mean, images[chosen])
    return out


def figure_arrays(dataset: Dataset, acts: Activations, sigs: Signatures,
                  snapshots: dict[int, tuple[Activations, Signatures]] | None,
                  config: Config, metrics: Metrics) -> FigureArrays:
    """The figures' arrays of one run; projects the layers of ``metrics["layers"]`` (those
    of them recorded) to 2-D; keeps the training images of ``metrics``' specific paths.

    Raises
    ------
    ConfigError
        ``report.projection = "umap"`` without the umap-learn package.
    """
    from sigreport.report.projection import compute_projections

    shown = tuple(n for layer in metrics["layers"] if (n := layer["name"]) in acts.train.layers)
    clustered = tuple(s.layer for s in sigs.layers)
    images = {s: (getattr(dataset, s).images() if getattr(dataset, s).image_shape is not None
                  else None) for s in _SPLITS}
    splits = {s: _split_arrays(acts, sigs, s, None if s == "train" else images[s],
                               () if s == "train" else clustered) for s in _SPLITS}
    specific = [tuple(int(p) for p in row["path"]) for row in metrics["paths"]["table"]
                if row.get("specific")]
    epochs = {int(epoch): tuple(_split_arrays(a, g, s, None, ()) for s in ("test", "probe"))
              for epoch, (a, g) in sorted((snapshots or {}).items())}
    return FigureArrays(
        classes=tuple(int(c) for c in dataset.classes),
        probe_classes=tuple(int(c) for c in dataset.probe_classes),
        class_names=tuple(str(n) for n in dataset.class_names),
        image_shape=dataset.test.image_shape,
        path_layers=tuple(sigs.path_layers),
        n_clusters={s.layer: int(s.n_clusters) for s in sigs.layers},
        train=splits["train"], test=splits["test"], probe=splits["probe"],
        projection=compute_projections(acts, shown, config.report, config.seed),
        snapshots={e: (t, p) for e, (t, p) in epochs.items()},
        exemplars=_exemplars(images["train"], splits["train"].paths, specific,
                             int(config.seed)))


def _put_split(out: dict[str, np.ndarray], prefix: str, s: SplitArrays) -> None:
    out[f"{prefix}/y"], out[f"{prefix}/predicted"] = s.y, s.predicted
    out[f"{prefix}/index"], out[f"{prefix}/paths"] = s.index, s.paths
    for layer, labels in s.labels.items():
        out[f"{prefix}/labels/{layer}"] = labels
    if s.images is not None:
        out[f"{prefix}/images"] = s.images


def arrays_bytes(arrays: FigureArrays) -> bytes:
    """``arrays`` as the content of ``figures.npz`` (compressed, no pickled objects)."""
    p = arrays.projection
    header = {"format": _FORMAT, "classes": list(arrays.classes),
              "probe_classes": list(arrays.probe_classes),
              "class_names": list(arrays.class_names),
              "image_shape": None if arrays.image_shape is None else list(arrays.image_shape),
              "path_layers": list(arrays.path_layers), "n_clusters": arrays.n_clusters,
              "labelled": {s: list(arrays.split(s).labels) for s in _SPLITS},
              "projection": {"method": p.method, "layers": list(p.layers),
                             "explained": p.explained},
              "snapshots": sorted(arrays.snapshots),
              "exemplars": [{"path": list(path), "n_train": e.n_train}
                            for path, e in arrays.exemplars.items()]}
    out: dict[str, Any] = {"header": np.frombuffer(json.dumps(header).encode(), np.uint8)}
    for s in _SPLITS:
        _put_split(out, s, arrays.split(s))
    out["projection/split"] = np.asarray(p.split, dtype="U5")
    out["projection/row"] = _int64(p.row)
    for layer in p.layers:
        out[f"projection/xy/{layer}"] = np.asarray(p.xy[layer], np.float32)
    for epoch, (test, probe) in arrays.snapshots.items():
        _put_split(out, f"snapshot/{epoch}/test", test)
        _put_split(out, f"snapshot/{epoch}/probe", probe)
    for i, e in enumerate(arrays.exemplars.values()):
        if e.mean is not None and e.sample is not None:
            out[f"exemplar/{i}/mean"], out[f"exemplar/{i}/sample"] = e.mean, e.sample
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **out)
    return buffer.getvalue()


def _get_split(data: Any, prefix: str, labelled: list[str]) -> SplitArrays:
    images = data[f"{prefix}/images"] if f"{prefix}/images" in data.files else None
    return SplitArrays(y=data[f"{prefix}/y"], predicted=data[f"{prefix}/predicted"],
                       index=data[f"{prefix}/index"], paths=data[f"{prefix}/paths"],
                       labels={layer: data[f"{prefix}/labels/{layer}"] for layer in labelled},
                       images=images)


def load_arrays(path: Path | str) -> FigureArrays:
    """Read a ``figures.npz`` that :func:`arrays_bytes` made.

    Raises
    ------
    OutputError
        When ``path`` is missing, unreadable, or not a figures file of a known format.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            header = json.loads(bytes(data["header"]).decode("utf-8"))
            if header.get("format") != _FORMAT:
                raise OutputError(f"{path}: figures file of format {header.get('format')!r}; "
                                  f"this sigreport reads format {_FORMAT}")
            splits = {s: _get_split(data, s, header["labelled"][s]) for s in _SPLITS}
            proj = header["projection"]
            projection = Projections(
                proj["method"], tuple(proj["layers"]), data["projection/split"].astype(str),
                data["projection/row"],
                {layer: data[f"projection/xy/{layer}"] for layer in proj["layers"]},
                dict(proj["explained"]))
            snapshots = {int(e): (_get_split(data, f"snapshot/{e}/test", []),
                                  _get_split(data, f"snapshot/{e}/probe", []))
                         for e in header["snapshots"]}
            exemplars = {}
            for i, entry in enumerate(header["exemplars"]):
                has = f"exemplar/{i}/mean" in data.files
                exemplars[tuple(int(p) for p in entry["path"])] = Exemplar(
                    int(entry["n_train"]), data[f"exemplar/{i}/mean"] if has else None,
                    data[f"exemplar/{i}/sample"] if has else None)
    except OutputError:
        raise
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        raise OutputError(f"{path}: not a readable figures file ({exc})") from None
    shape = header["image_shape"]
    return FigureArrays(
        classes=tuple(header["classes"]), probe_classes=tuple(header["probe_classes"]),
        class_names=tuple(header["class_names"]),
        image_shape=None if shape is None else tuple(shape),
        path_layers=tuple(header["path_layers"]),
        n_clusters={k: int(v) for k, v in header["n_clusters"].items()},
        train=splits["train"], test=splits["test"], probe=splits["probe"],
        projection=projection, snapshots=snapshots, exemplars=exemplars)


def projection_metrics(arrays: FigureArrays) -> Projection:
    """metrics.json's ``projection`` section: the method, the points shown per class, and the
    share of each layer's variance its two axes explain (PCA; None for t-SNE and UMAP)."""
    p = arrays.projection
    y = np.zeros(len(p.row), np.int64)
    for split in ("test", "probe"):
        mask = p.split == split
        y[mask] = arrays.split(split).y[p.row[mask]]
    classes, counts = np.unique(y, return_counts=True)
    return {"method": p.method, "n_points": int(len(p.row)),
            "per_class": {str(int(c)): int(k) for c, k in zip(classes, counts)},
            "layers": [{"name": layer,
                        "explained_variance": None if p.explained.get(layer) is None
                        else float(f"{p.explained[layer]:.6g}")} for layer in p.layers]}
