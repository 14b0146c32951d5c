"""The 2021 study reproduced: both original presets over several seeds, beside the original code.

    python bench/original_2021.py                  # 5 seeds, writes site/reproducing-2021.md
    python bench/original_2021.py --seeds 2 --page /tmp/page.md   # to check the script

Runs `original-2021` (the original code's setup) and `original-2021-sigreport`
(the same network and data, sigreport's methods) for seeds 0..N-1, up to the
metrics (no report is rendered), and measures on each run what the original
code's re-run measured. It prints one line per run, then a table of mean and
sample standard deviation beside the original code's numbers, then whether each
of original-2021's means lies within the original's spread (its mean +/- one
sd). It writes the guide page "Reproducing the 2021 study" from those numbers.
The last line is ``within_spread=W/N`` over the N rows with a spread.
"""

from __future__ import annotations

import argparse
import collections
import math
import os
import statistics
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sigreport.analysis.types import Layer, Metrics

PRESETS = ("original-2021", "original-2021-sigreport")
TRAINED, PROBE, OTHER = 1, 3, 7
HIDDEN = ("hidden1", "hidden2")

# A faithful re-run of the original Keras code (5 seeds), mean and sample sd: the
# reference this script measures sigreport against. None: no spread given. Each entry is
# (mean, sd), and for "k" (the k per layer, the runs that found it, the runs).
ORIGINAL: dict[str, tuple[Any, ...]] = {
    "test_accuracy": (0.984, 0.004),
    "k": ((2, 2), 5, 5),
    "nmi_hidden1": (0.78, 0.08),
    "nmi_hidden2": (0.77, 0.11),
    "sevens_in_ones_hidden1": (0.08, 0.06),
    "threes_in_ones_hidden1": (0.71, 0.12),
    "threes_in_ones_hidden2": (0.64, 0.10),
    "threes_predicted_one": (0.41, 0.23),
}
# (key, label, decimals)
ROWS = (
    ("test_accuracy", "test accuracy (all 2,163 test 1s and 7s)", 3),
    ("k", "k (layer 1, layer 2)", 0),
    ("nmi_hidden1", "cluster/class NMI, layer 1 (training 1s and 7s)", 2),
    ("nmi_hidden2", "cluster/class NMI, layer 2 (training 1s and 7s)", 2),
    ("sevens_in_ones_hidden1", "training 7s in the 1s' layer-1 cluster(s)", 2),
    ("threes_in_ones_hidden1", "3s in the 1s' cluster(s), layer 1", 2),
    ("threes_in_ones_hidden2", "3s in the 1s' cluster(s), layer 2", 2),
    ("threes_predicted_one", "3s predicted as 1", 2),
    ("threes_unassigned_hidden1", "3s outside every region, layer 1", 2),
    ("threes_unassigned_hidden2", "3s outside every region, layer 2", 2),
    ("ones_sevens_majority_hidden1", "each class's share in its majority cluster, layer 1", 2),
    ("ones_sevens_majority_hidden2", "each class's share in its majority cluster, layer 2", 2),
    ("signature_auroc", "best signature-family AUROC, 3s against the test set", 2),
)


def _train_labels(layer: Layer) -> tuple[list[int], list[int]]:
    """(class, cluster) of every training image of the layer, -1 for outside every region."""
    y, c = [], []
    for cls, counts in layer["cluster_counts"].items():
        for cluster, n in enumerate(counts):
            y += [int(cls)] * n
            c += [cluster] * n
        n_out = layer["unassigned_counts"].get(cls, 0)
        y += [int(cls)] * n_out
        c += [-1] * n_out
    return y, c


def measure_run(metrics: Metrics) -> dict[str, Any]:
    """The table's measures of one run, read from its metrics.json content."""
    from sklearn.metrics import normalized_mutual_info_score

    layers = {lay["name"]: lay for lay in metrics["layers"]}
    unseen = next(u for u in metrics["answers"]["unseen"] if u["class"] == PROBE)
    probe_layers = {lay["layer"]: lay for lay in unseen["layers"]}
    detection = metrics["answers"]["unseen_detection"]
    signature = detection["best_per_family"]["signature"] if detection else None
    assert signature is not None, "the presets' 3s have a signature-family score"
    out: dict[str, Any] = {
        "test_accuracy": metrics["model"]["test_accuracy"],
        "k": tuple(layers[h]["n_clusters"] for h in HIDDEN),
        "threes_predicted_one": unseen["predicted_as"][str(TRAINED)],
        "signature_auroc": signature["auroc"],
        "separation_layer": metrics["answers"]["separation"]["separation_layer"],
    }
    for h in HIDDEN:
        lay = layers[h]
        y, c = _train_labels(lay)
        out[f"nmi_{h}"] = float(normalized_mutual_info_score(y, c))
        ones = [i for i, d in enumerate(lay["cluster_dominant_class"]) if d == TRAINED]
        sevens = lay["cluster_counts"][str(OTHER)]
        out[f"sevens_in_ones_{h}"] = sum(sevens[i] for i in ones) / y.count(OTHER)
        out[f"threes_in_ones_{h}"] = probe_layers[h]["lands_in_class"].get(str(TRAINED), 0.0)
        out[f"threes_unassigned_{h}"] = probe_layers[h]["unassigned_rate"]
        out[f"ones_sevens_majority_{h}"] = statistics.fmean(
            max(counts) / y.count(int(cls)) for cls, counts in lay["cluster_counts"].items())
    return out


def _mean_sd(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def _fmt(mean: float, sd: float, decimals: int) -> str:
    return f"{mean:.{decimals}f} ± {sd:.{decimals}f}"


def _k_text(ks: list[tuple[int, ...]]) -> str:
    counted = collections.Counter(ks).most_common()
    return ", ".join(f"({', '.join(map(str, k))}) in {n}/{len(ks)}" for k, n in counted)


def summarise(runs: dict[str, list[dict]]) -> dict[str, dict[str, Any]]:
    """preset -> row key -> (mean, sd) or the k text, over its runs."""
    out: dict[str, dict[str, Any]] = {}
    for preset, measured in runs.items():
        row: dict[str, Any] = {}
        for key, _label, _dec in ROWS:
            values = [m[key] for m in measured]
            row[key] = _k_text(values) if key == "k" else _mean_sd(values)
        row["k_values"] = [m["k"] for m in measured]
        row["separation"] = collections.Counter(m["separation_layer"] for m in measured)
        out[preset] = row
    return out


def within_spread(summary: dict[str, Any]) -> dict[str, bool]:
    """Row key -> whether the mean lies within the original's mean +/- sd (rows with a spread)."""
    verdict = {}
    for key, ref in ORIGINAL.items():
        if key == "k":
            k, n, total = ref
            ks = summary["k_values"]
            verdict[key] = ks.count(k) == len(ks) if n == total else ks.count(k) > 0
        else:
            mean, _sd = summary[key]
            verdict[key] = abs(mean - ref[0]) <= ref[1]
    return verdict


def _original_text(key: str, decimals: int) -> str:
    ref = ORIGINAL.get(key)
    if ref is None:
        return "—"
    if key == "k":
        return f"({', '.join(map(str, ref[0]))}) in {ref[1]}/{ref[2]}"
    return _fmt(ref[0], ref[1], decimals)


def _cell(summary: dict[str, Any], key: str, decimals: int) -> str:
    value = summary[key]
    if isinstance(value, str):
        return value
    mean, sd = value
    return _fmt(mean, sd, decimals)


def _config_lines(preset: str) -> list[str]:
    """The preset's resolved values of the keys the original setup sets, as `key = value`."""
    from sigreport.checks import toml_value
    from sigreport.config import config_to_dict, load_config

    plain = config_to_dict(load_config(preset))
    keys = {
        "data": ("classes", "probe_classes", "n_per_class", "selection", "probe_split",
                 "n_probe_per_class"),
        "model": ("hidden", "activation", "loss", "init"),
        "train": ("optimizer", "learning_rate", "epsilon", "batch_size", "drop_last", "epochs"),
        "signatures": ("method", "fit_on", "standardize", "k_rule", "k_min", "k_max",
                       "k_n_init", "n_init", "boundary_quantile"),
        "report": ("projection",),
    }
    return [f"{section}.{k} = {toml_value(plain[section][k])}"
            for section, names in keys.items() for k in names if k in plain[section]]


def _keras_epsilon(preset: str) -> tuple[float, float, int]:
    """Keras' epsilon in optax's terms at the first and the last step, and the step count."""
    from sigreport.config import load_config

    cfg = load_config(preset)
    n_per_class = cfg.data.n_per_class
    assert isinstance(n_per_class, int), f"{preset} takes a number of images per class"
    n_train = n_per_class * len(cfg.data.classes)
    per_epoch = (n_train // cfg.train.batch_size if cfg.train.drop_last
                 else math.ceil(n_train / cfg.train.batch_size))
    steps = per_epoch * cfg.train.epochs
    beta2 = 0.999   # optax's and Keras' default
    return (cfg.train.epsilon / math.sqrt(1 - beta2), cfg.train.epsilon /
            math.sqrt(1 - beta2 ** steps), steps)


def _shown(value: object) -> str:
    """A config value as TOML, or "unset"."""
    from sigreport.checks import toml_value

    return "unset" if value is None else toml_value(value)


def _differing(a: str, b: str) -> list[str]:
    """`key = value` of the keys whose resolved values differ between presets a and b."""
    from sigreport.config import config_to_dict, load_config

    pa, pb = config_to_dict(load_config(a)), config_to_dict(load_config(b))
    out = []
    for section, values in pa.items():
        if not isinstance(values, dict):
            continue
        for key in sorted(set(values) | set(pb.get(section, {}))):
            va, vb = values.get(key), pb.get(section, {}).get(key)
            if va != vb:
                out.append(f"`{section}.{key}`: {_shown(va)} → {_shown(vb)}")
    return out


def _conclusions(s: dict[str, dict[str, Any]], n_seeds: int) -> list[str]:
    orig, meth = s[PRESETS[0]], s[PRESETS[1]]
    lines = []
    sep = orig["separation"]
    n_first = sep.get("hidden1", 0)
    maj1, maj2 = orig["ones_sevens_majority_hidden1"][0], orig["ones_sevens_majority_hidden2"][0]
    agree = "agree" if n_first == n_seeds else "differ"
    lines.append(
        f"- **Q1, from which layer on.** The original: from the first hidden layer, 97% of each "
        f"class in one cluster on average, the second layer adding nothing. `{PRESETS[0]}`: the "
        f"separation layer is the first hidden layer in {n_first} of {n_seeds} seeds, with "
        f"{maj1:.0%} of each class in its majority cluster in layer 1 and {maj2:.0%} in "
        f"layer 2. The conclusions {agree}"
        + ("." if agree == "agree" else
           f" (separation layers: {', '.join(f'{k} in {v}' for k, v in sorted(sep.items()))}).")
    )
    sev, sev_m = orig["sevens_in_ones_hidden1"][0], meth["sevens_in_ones_hidden1"][0]
    agree = "agree" if sev < 0.5 else "differ"
    lines.append(
        f"- **Q2, do 1s and 7s differ.** The original: yes, 4 of 100 sevens in the 1s' cluster. "
        f"`{PRESETS[0]}`: {sev * 100:.1f} of 100 training sevens in the 1s' layer-1 cluster(s) "
        f"on average (`{PRESETS[1]}`: {sev_m * 100:.1f}). The conclusions {agree}: the 7s "
        + ("keep mostly to their own clusters." if sev < 0.5 else "mostly share the 1s' clusters.")
    )
    t1, t1sd = orig["threes_in_ones_hidden1"]
    t2 = orig["threes_in_ones_hidden2"][0]
    p1, p1sd = orig["threes_predicted_one"]
    u1o = orig["threes_unassigned_hidden1"][0]
    u1, u2 = meth["threes_unassigned_hidden1"][0], meth["threes_unassigned_hidden2"][0]
    auc_o, auc_m = orig["signature_auroc"][0], meth["signature_auroc"][0]
    side = "1s" if t1 > 0.5 else "7s"
    split = 0.25 <= p1 <= 0.75
    lines.append(
        f"- **Q3, the unseen 3s.** The original: grouped haphazardly, slightly closer to the 1s, "
        f"predictions random. `{PRESETS[0]}`: {t1:.0%} ± {t1sd:.0%} of the 3s in the 1s' "
        f"cluster(s) in layer 1 and {t2:.0%} in layer 2, so closer to the {side}; "
        f"{p1:.0%} ± {p1sd:.0%} of them predicted as 1, "
        + ("split between 1 and 7" + (" and moving from seed to seed. " if p1sd >= 0.05 else ". ")
           if split else
           f"leaning to {'1' if p1 > 0.5 else '7'}. ")
        + ("Where the 3s go and how they are predicted, the conclusions agree. "
           if side == "1s" and split else "Here the conclusions differ. ")
        + f"What the clusters can say about them depends on the method: fitted on the 3s too "
        f"(`{PRESETS[0]}`), {u1o:.0%} of the 3s fall outside the clusters of layer 1 and the "
        f"best signature-family score tells them from test images with AUROC {auc_o:.2f}; "
        f"fitted on the training images only (`{PRESETS[1]}`), {u1:.0%} of the 3s fall outside "
        f"every region of layer 1 and {u2:.0%} of layer 2, and that AUROC is {auc_m:.2f}. "
        f"The original, clustering the 3s with the training images, could not measure this."
    )
    return lines


def render_page(s: dict[str, dict[str, Any]], n_seeds: int, same_networks: bool) -> str:
    verdict = within_spread(s[PRESETS[0]])
    shared = ("Both presets set the same data, network and training keys, and the runs "
              "confirm it: every seed's test accuracy and predictions of the 3s are the same "
              "in both, so only the clustering differs between the two columns."
              if same_networks else
              "The two presets' networks differ for at least one seed (test accuracy or "
              "predictions of the 3s), so the columns differ in more than the clustering.")
    head = (f"| measure | original code, re-run (5 seeds) | `{PRESETS[0]}` ({n_seeds} seeds) "
            f"| within the original's spread | `{PRESETS[1]}` ({n_seeds} seeds) |")
    table = [head, "| --- | --- | --- | --- | --- |"]
    for key, label, dec in ROWS:
        within = ("yes" if verdict[key] else "no") if key in verdict else ""
        table.append(f"| {label} | {_original_text(key, dec)} | {_cell(s[PRESETS[0]], key, dec)} "
                     f"| {within} | {_cell(s[PRESETS[1]], key, dec)} |")
    n_within = sum(verdict.values())
    eps_first, eps_last, steps = _keras_epsilon(PRESETS[0])
    config = "\n".join(_config_lines(PRESETS[0]))
    differ = "\n".join(f"- {line}" for line in _differing(PRESETS[0], PRESETS[1]))
    return f"""# Reproducing the 2021 study

sigreport grew out of a 2021 study (repository `massykezzoul/mtq-neural-networks`,
Keras/TensorFlow) that trained a small network to tell 1s from 7s, clustered
its hidden layers' outputs, and showed it 3s it had never been trained on. Two
presets replay it:

- `{PRESETS[0]}` does what the original code did, step for step;
- `{PRESETS[1]}` keeps the original's network and data but uses sigreport's
  own methods, so the difference between the two shows what the
  methodological choices change.

This page is written by `python bench/original_2021.py` from {n_seeds} seeded runs
of each preset (seeds 0 to {n_seeds - 1}); every number in the sigreport columns
is measured by that script.

## What the original code does, and the preset's values

- Data: the **first** 100 training images of each digit in file order, no
  randomness; the test set is every test 1 and 7 (2,163 images). Pixels divided
  by 255, flattened, one-hot labels over the sorted digits.
- The unseen digit: the first 100 **training** 3s, appended to the 200 training
  images; the hidden outputs are standardised and clustered on these 300 together.
- The network: 784-32-16-2, ReLU, softmax output, mean squared error, Adam
  (learning rate 1e-4, epsilon 1e-7), batches of 12 with the last partial batch
  kept, 15 epochs, Glorot-uniform initial weights, shuffled every epoch.
- Clustering: k from 1 to 3, one cluster scored 0 and otherwise the best
  silhouette (k-means with 10 restarts), then a final k-means with 100 restarts.
- Pictures: a UMAP per hidden layer and a Sankey diagram of label, layer-1
  cluster, layer-2 cluster and prediction.

`sigreport run {PRESETS[0]}` resolves to:

```toml
{config}
```

`{PRESETS[1]}` differs in:

{differ}

## Measured

Mean ± sample standard deviation over the seeds. The original code's numbers
come from a faithful re-run of its Keras code with 5 seeds. "Within the
original's spread" means the mean of `{PRESETS[0]}` lies within the original's
mean ± one standard deviation ({n_within} of {len(verdict)} rows); "—" marks what
the re-run did not measure. NMI and the 7s' share are counted on the 200 training
images, as the original clustered them; "the 1s' cluster(s)" are the clusters
whose training members are mostly 1s. {shared}

{chr(10).join(table)}

## Where the conclusions agree and differ

{chr(10).join(_conclusions(s, n_seeds))}

## What still differs from the original code

- Random streams: the initial weights, the shuffling and the k-means starts are
  drawn from sigreport's seeds, so a given seed does not reproduce a given Keras
  run; only the spread over seeds is comparable.
- Adam's epsilon: optax adds it to the bias-corrected root of the second
  moment, Keras before the bias correction, where it acts as
  epsilon / sqrt(1 - 0.999^t) in optax's terms: {eps_first:.1e} at the first step,
  {eps_last:.1e} after the {steps} steps of training. The steps differ only for
  weights whose gradients are about that small.
- The UMAP pictures are fitted on the training images and then place the shown
  test images and 3s; the original fitted them on the 300 clustered images. No
  number on this page depends on them.
- sigreport measures more than the original did (controls, intervals,
  detection scores); those numbers are in each run's report.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 (default 5)")
    parser.add_argument("--page", type=Path, default=Path("site/reproducing-2021.md"),
                        help="where the guide page is written")
    args = parser.parse_args(argv)

    from sigreport.config import load_config
    from sigreport.pipeline import measure

    runs: dict[str, list[dict]] = {p: [] for p in PRESETS}
    for preset in PRESETS:
        for seed in range(args.seeds):
            config = load_config(preset, [f"seed={seed}"])
            start = time.perf_counter()
            m = measure_run(measure(config).metrics)
            runs[preset].append(m)
            print(f"{preset:<26} seed {seed}  {time.perf_counter() - start:6.1f} s  "
                  f"accuracy {m['test_accuracy']:.4f}  k {m['k']}  "
                  f"NMI {m['nmi_hidden1']:.3f}/{m['nmi_hidden2']:.3f}  "
                  f"7s in 1s {m['sevens_in_ones_hidden1']:.2f}  "
                  f"3s in 1s {m['threes_in_ones_hidden1']:.2f}/{m['threes_in_ones_hidden2']:.2f}  "
                  f"3s as 1 {m['threes_predicted_one']:.2f}", flush=True)
    s = summarise(runs)
    print()
    for key, label, dec in ROWS:
        print(f"{label:<56} {_original_text(key, dec):>26}  "
              + "  ".join(f"{_cell(s[p], key, dec):>18}" for p in PRESETS))
    verdict = within_spread(s[PRESETS[0]])
    same = all(a["test_accuracy"] == b["test_accuracy"]
               and a["threes_predicted_one"] == b["threes_predicted_one"]
               for a, b in zip(*runs.values()))
    page = render_page(s, args.seeds, same)
    args.page.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.page.with_name(f".{args.page.name}.{os.getpid()}")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(args.page)
    print(f"page {args.page}")
    print(f"within_spread={sum(verdict.values())}/{len(verdict)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
