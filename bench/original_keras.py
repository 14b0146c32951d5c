"""The 2021 study's own pipeline, re-typed in Keras: train and cluster, no figures.

Run by ``bench/original_speed.py`` in a virtual environment of its own (TensorFlow's
CPU build and scikit-learn; sigreport is not imported), so that the original pipeline
and ``sigreport run original-2021`` are timed back to back on the same machine.

    python bench/original_keras.py MNIST_FOLDER [--seed 0]

What the original code did (``src/mnist/tools`` of massykezzoul/mtq-neural-networks),
step for step, as the ``original-2021`` preset describes it:

1. the first 100 training images of 1 and of 7 in file order, every test 1 and 7, and the
   first 100 training 3s (the unseen digit); pixels divided by their maximum, flattened,
   labels one-hot over the sorted classes;
2. a Keras ``Sequential`` 784-32-16-2, ReLU then softmax, Glorot-uniform weights, Adam
   (learning rate 1e-4, Keras' epsilon 1e-7) on the mean squared error, batches of 12,
   15 epochs;
3. test accuracy (``model.evaluate``), predictions of the 3s (``model.predict``);
4. the hidden layers' outputs of the 200 training images and the 100 3s together, each
   layer standardised; per layer k in 1..3 by the best silhouette (k-means with 10
   restarts, one cluster scored 0), then the final k-means with 100 restarts.

Prints one JSON line: seconds per step (``import`` is TensorFlow's and scikit-learn's),
the test accuracy and each layer's k.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
START = time.perf_counter()

import numpy as np  # noqa: E402


def _idx(path: Path) -> np.ndarray:
    """An IDX file (gzipped) as an array: the magic number's last byte is the rank."""
    raw = gzip.decompress(path.read_bytes())
    rank = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(rank)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * rank).reshape(shape)


def _first(x: np.ndarray, y: np.ndarray, keep: list[int], n: int | None
           ) -> tuple[np.ndarray, np.ndarray]:
    xs = [x[y == c][:n] for c in keep]
    ys = [y[y == c][:n] for c in keep]
    return np.concatenate(xs), np.concatenate(ys)


def _normalise(x: np.ndarray, y: np.ndarray, classes: list[int]
               ) -> tuple[np.ndarray, np.ndarray]:
    x = (x.astype("float32") / x.max()).reshape(len(x), -1)
    return x, (y[:, None] == np.array(sorted(classes))[None, :]).astype("float32")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mnist", type=Path, help="folder of the four IDX files (gzipped)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    times: dict[str, float] = {}
    mark = time.perf_counter()

    import tensorflow as tf
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score
    from tensorflow import keras

    times["import"] = time.perf_counter() - mark
    mark = time.perf_counter()
    tf.keras.utils.set_random_seed(args.seed)
    x_tr = _idx(args.mnist / "train-images-idx3-ubyte.gz")
    y_tr = _idx(args.mnist / "train-labels-idx1-ubyte.gz")
    x_te = _idx(args.mnist / "t10k-images-idx3-ubyte.gz")
    y_te = _idx(args.mnist / "t10k-labels-idx1-ubyte.gz")
    keep = [1, 7]
    x_train, y_train = _normalise(*_first(x_tr, y_tr, keep, 100), keep)
    x_test, y_test = _normalise(*_first(x_te, y_te, keep, None), keep)
    x_probe = _normalise(*_first(x_tr, y_tr, [3], 100), [3])[0]
    times["data"] = time.perf_counter() - mark

    mark = time.perf_counter()
    model = keras.Sequential([keras.Input(shape=(784,)),
                              keras.layers.Dense(32, activation="relu"),
                              keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-4, epsilon=1e-7),
                  loss="mean_squared_error", metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=12, epochs=15, verbose=0)
    times["train"] = time.perf_counter() - mark

    mark = time.perf_counter()
    _loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    predicted = np.array(keep)[model.predict(x_probe, verbose=0).argmax(axis=1)]
    hidden = keras.Model(inputs=model.inputs, outputs=[lay.output for lay in model.layers[:-1]])
    outputs = hidden(np.concatenate([x_train, x_probe]))
    times["activations"] = time.perf_counter() - mark

    mark = time.perf_counter()
    ks = []
    for out in outputs:
        z = np.asarray(out)
        z = (z - z.mean(axis=0)) / np.where(z.std(axis=0) > 0, z.std(axis=0), 1.0)
        scores = [0.0] + [silhouette_score(z, KMeans(k, n_init=10, random_state=24)
                                           .fit_predict(z)) for k in (2, 3)]
        k = int(np.argmax(scores)) + 1
        KMeans(k, n_init=100, random_state=25).fit_predict(z)
        ks.append(k)
    times["cluster"] = time.perf_counter() - mark
    times["total"] = time.perf_counter() - START
    print(json.dumps({"seconds": times, "test_accuracy": float(accuracy), "k": ks,
                      "threes_predicted_one": float(np.mean(predicted == 1))}))


if __name__ == "__main__":
    main()
