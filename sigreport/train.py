"""Training: an optax optimiser over a Flax NNX MLP or CNN, one jitted call per epoch.

The model is split once into its graph definition and parameter state; the
training step is a plain function of (state, optimiser state, batch) that
merges the model, takes a gradient step and returns the new state. A whole
epoch, its training steps under ``jax.lax.scan`` and the evaluation after
them, is one jitted call; the data go to the device once and each epoch sends
only its shuffled batch order, so Python overhead stays out of small models'
way. Everything is seeded from one integer: the same seed on the same machine
gives bit-identical parameters and history.
"""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Self

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from sigreport.config import ModelConfig, TrainConfig
from sigreport.data.prepare import Dataset
from sigreport.errors import TrainingError
from sigreport.model import CNN, MLP, Architecture, Params, architecture, build_network, params_of

__all__ = ["TrainResult", "fit_model", "fit_models", "network_architecture", "snapshot_epochs"]

HISTORY_KEYS = ("epoch", "train_loss", "train_accuracy", "test_accuracy")

# Samples per evaluation pass (forward only, so it can be larger than a training batch).
_EVAL_BATCH = 4096
# Tells the shuffling generator apart from the other streams drawn from the seed.
_SHUFFLE_STREAM = 0x5F1E


@dataclass(frozen=True)
class TrainResult:
    """A trained network, its parameters at chosen epochs, and its learning curve.

    Attributes
    ----------
    params:
        ((W float32 (in, out), b float32 (out,)), ...) per dense layer, the
        hidden layers first, then the output layer.
    snapshots:
        epoch -> params at the END of that epoch; epoch 0 is the untrained network.
    history:
        "epoch" (1..E), "train_loss" (mean minibatch loss over the epoch),
        "train_accuracy" and "test_accuracy" (of the network at the end of the
        epoch, over the whole split); float64 arrays of length E.
    seed:
        The seed the network was initialised and shuffled with.
    """

    params: Params
    snapshots: dict[int, Params]
    history: dict[str, np.ndarray]
    seed: int

    def to_arrays(self) -> dict[str, np.ndarray]:
        """A flat name -> array dict (for :func:`sigreport.store.save_cached`)."""
        arrays: dict[str, np.ndarray] = {}
        for i, (w, b) in enumerate(self.params):
            arrays[f"params.{i}.W"] = w
            arrays[f"params.{i}.b"] = b
        for epoch, params in self.snapshots.items():
            for i, (w, b) in enumerate(params):
                arrays[f"snapshot.{epoch}.{i}.W"] = w
                arrays[f"snapshot.{epoch}.{i}.b"] = b
        for key, values in self.history.items():
            arrays[f"history.{key}"] = values
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], seed: int) -> TrainResult:
        """Rebuild a result from :meth:`to_arrays`' output.

        Raises
        ------
        KeyError, ValueError
            When ``arrays`` is not what :meth:`to_arrays` wrote.
        """
        layers: dict[int, dict[str, np.ndarray]] = {}
        snaps: dict[int, dict[int, dict[str, np.ndarray]]] = {}
        history: dict[str, np.ndarray] = {}
        for name, value in arrays.items():
            parts = name.split(".")
            if parts[0] == "params" and len(parts) == 3:
                layers.setdefault(int(parts[1]), {})[parts[2]] = value
            elif parts[0] == "snapshot" and len(parts) == 4:
                snaps.setdefault(int(parts[1]), {}).setdefault(int(parts[2]), {})[parts[3]] = value
            elif parts[0] == "history" and len(parts) == 2:
                history[parts[1]] = np.asarray(value, dtype=np.float64)
            else:
                raise ValueError(f"unexpected array {name!r} in a training result")
        missing = [k for k in HISTORY_KEYS if k not in history]
        if missing:
            raise KeyError(f"training result lacks history {missing}")
        return cls(
            params=_params_from(layers),
            snapshots={e: _params_from(snaps[e]) for e in sorted(snaps)},
            history={k: history[k] for k in HISTORY_KEYS},
            seed=seed,
        )


def _params_from(layers: dict[int, dict[str, np.ndarray]]) -> Params:
    if sorted(layers) != list(range(len(layers))) or len(layers) < 2:
        raise ValueError(f"training result has dense layers {sorted(layers)}")
    return tuple(
        (np.asarray(layers[i]["W"], dtype=np.float32), np.asarray(layers[i]["b"], dtype=np.float32))
        for i in range(len(layers))
    )


def network_architecture(model: ModelConfig, dataset: Dataset) -> Architecture:
    """The shapes of the network ``model`` trains on ``dataset`` (an MLP or a CNN)."""
    return architecture(model.network_kind, dataset.images_hwc, model.conv, model.hidden,
                        dataset.n_classes, model.pooling)


def snapshot_epochs(train: TrainConfig) -> tuple[int, ...]:
    """The epochs whose parameters are kept, sorted and without repeats.

    ``train.snapshot_epochs`` when given; otherwise 0 (untrained), about a
    quarter and half of training, and the last epoch.
    """
    if train.snapshot_epochs is not None:
        return tuple(sorted(set(train.snapshot_epochs)))
    epochs = train.epochs
    return tuple(sorted({0, epochs // 4, epochs // 2, epochs}))


# --- optimiser and loss ---------------------------------------------------


def _optimizer(name: str, learning_rate: float, momentum: float,
               weight_decay: float, epsilon: float) -> optax.GradientTransformation:
    """The optax transformation a config names.

    adamw decouples the weight decay from the gradient (its own rule); for
    adam and sgd a weight decay adds ``weight_decay * W`` to the gradient (L2).
    ``epsilon`` is added to Adam's bias-corrected root second moment (optax's
    convention; Keras adds it before the bias correction).
    """
    if name == "adamw":
        return optax.adamw(learning_rate, eps=epsilon, weight_decay=weight_decay)
    if name == "adam":
        tx = optax.adam(learning_rate, eps=epsilon)
    elif name == "sgd":
        tx = optax.sgd(learning_rate, momentum=momentum or None)
    else:
        raise ValueError(f"unknown optimizer {name!r}")
    if weight_decay:
        tx = optax.chain(optax.add_decayed_weights(weight_decay), tx)
    return tx


def _sample_losses(loss: str, logits: jax.Array, onehot: jax.Array) -> jax.Array:
    """Loss per sample, float32 (n_samples,).

    "mse" is the mean squared error between the softmax outputs and the one-hot
    labels, averaged over the classes (as Keras' mean_squared_error does).
    """
    if loss == "cross_entropy":
        return optax.softmax_cross_entropy(logits, onehot)
    if loss == "mse":
        return jnp.mean(jnp.square(jax.nn.softmax(logits, axis=-1) - onehot), axis=-1)
    raise ValueError(f"unknown loss {loss!r}")


# The optimiser is described by a hashable tuple and built inside the traced
# functions, so the compiled epoch is reused across calls with the same
# shapes and settings (several seeds, snapshots, tests).
_OptSpec = tuple[str, float, float, float, float]


def _opt_spec(train: TrainConfig) -> _OptSpec:
    return (train.optimizer, float(train.learning_rate), float(train.momentum),
            float(train.weight_decay), float(train.epsilon))


def _abstract_model(arch: Architecture, activation: str) -> MLP | CNN:
    return nnx.eval_shape(lambda: build_network(arch, activation, rngs=nnx.Rngs(0)))


# Initialising inside one jitted call compiles once, rather than once per
# eager operation and parameter shape. The initial weights depend only on the
# layer sizes and the seed, so runs that differ in anything else share it.
# It runs once per run, so it is compiled without optimisation, which takes
# about a third of the time.
@functools.partial(jax.jit, static_argnames=("arch", "init"),
                   compiler_options={"xla_backend_optimization_level": 0})
def _init_state(seed: jax.Array, *, arch: Architecture, init: str) -> nnx.State:
    """Initial parameters drawn from ``jax.random.key(seed)`` by the named initialiser."""
    net = build_network(arch, "relu", rngs=nnx.Rngs(params=jax.random.key(seed)), init=init)
    return nnx.state(net)


@functools.partial(jax.jit, static_argnames=("opt",))
def _init_opt_state(state: nnx.State, *, opt: _OptSpec) -> optax.OptState:
    return _optimizer(*opt).init(state)


def _batch_order(seed: int, epoch: int, n_samples: int, batch_size: int,
                 drop_last: bool = True) -> np.ndarray:
    """Row indices of each training step of an epoch, int32 (n_batches, batch_size).

    A permutation from a generator keyed by (seed, epoch); drawn on the host
    because it costs far less there than compiling a device permutation. By
    default the last partial batch is DROPPED after shuffling: every step then
    has the same shape (one compiled step, no masking), and as each epoch
    shuffles anew, a different handful of samples sits out each time. With
    ``drop_last=False`` it is kept, padded at the end with row 0 to the batch
    shape; :func:`_batch_weights` gives the padding weight 0, so that step
    averages the loss over its real rows only (as Keras does).
    """
    order = np.random.default_rng((seed, _SHUFFLE_STREAM, epoch)).permutation(n_samples)
    n_batches = n_samples // batch_size if drop_last else -(-n_samples // batch_size)
    order = np.resize(order, n_batches * batch_size)  # np.resize pads by repeating
    order[n_samples:] = 0
    return order.astype(np.int32).reshape(n_batches, batch_size)


def _batch_weights(n_samples: int, order: np.ndarray) -> np.ndarray | None:
    """float32 weights of the rows of ``order``: 0 for the padding after the last real
    sample, else 1; None when there is no padding (every row counts)."""
    if order.size <= n_samples:
        return None
    return (np.arange(order.size) < n_samples).astype(np.float32).reshape(order.shape)


def _train_steps(state: nnx.State, opt_state: optax.OptState, x: jax.Array, onehot: jax.Array,
                 order: jax.Array, weights: jax.Array | None, *, graphdef: nnx.GraphDef,
                 opt: _OptSpec, loss: str) -> tuple[nnx.State, optax.OptState, jax.Array]:
    """A gradient step per row of ``order`` under ``lax.scan``; returns the mean batch loss.

    ``weights`` (None: every row counts) turns each batch's mean into a weighted mean.
    """
    tx = _optimizer(*opt)

    def batch_loss(state: nnx.State, rows: jax.Array, w: jax.Array | None) -> jax.Array:
        logits = nnx.merge(graphdef, state)(x[rows])
        losses = _sample_losses(loss, logits, onehot[rows])
        return jnp.mean(losses) if w is None else jnp.sum(losses * w) / jnp.sum(w)

    def train_step(carry, batch):
        state, opt_state = carry
        value, grads = jax.value_and_grad(batch_loss)(state, *batch)
        updates, opt_state = tx.update(grads, opt_state, state)
        return (optax.apply_updates(state, updates), opt_state), value

    (state, opt_state), losses = jax.lax.scan(train_step, (state, opt_state), (order, weights))
    return state, opt_state, jnp.mean(losses)


def _accuracy(state: nnx.State, x: jax.Array, onehot: jax.Array, *, graphdef: nnx.GraphDef,
              batch_size: int) -> jax.Array:
    """Accuracy over a whole split, forward passes of ``batch_size`` samples.

    The last batch is taken flush with the end of the split and its rows that
    an earlier batch already counted are masked out, so every sample counts
    once and every batch has the same shape.
    """
    n_samples = x.shape[0]
    if n_samples == 0:
        return jnp.float32(jnp.nan)
    batch_size = min(batch_size, n_samples)
    model = nnx.merge(graphdef, state)

    def body(i, n_correct):
        start = jnp.minimum(i * batch_size, n_samples - batch_size)
        logits = model(jax.lax.dynamic_slice_in_dim(x, start, batch_size))
        labels = jax.lax.dynamic_slice_in_dim(onehot, start, batch_size)
        fresh = start + jnp.arange(batch_size) >= i * batch_size
        correct = jnp.argmax(logits, axis=-1) == jnp.argmax(labels, axis=-1)
        return n_correct + jnp.sum(fresh & correct)

    n_batches = -(-n_samples // batch_size)
    return jax.lax.fori_loop(0, n_batches, body, jnp.int32(0)) / jnp.float32(n_samples)


def _epoch_body(state: nnx.State, opt_state: optax.OptState, x: jax.Array, onehot: jax.Array,
           order: jax.Array, evaluate: tuple[tuple[jax.Array, jax.Array], ...],
           weights: jax.Array | None = None, *, graphdef: nnx.GraphDef, opt: _OptSpec,
           loss: str) -> tuple[nnx.State, optax.OptState, jax.Array]:
    """One epoch in one call: the training steps, then the accuracy on each of ``evaluate``.

    Parameters
    ----------
    state, opt_state:
        Model parameters and optimiser state (donated: do not reuse them).
    x, onehot:
        float32 (n_train, n_inputs) and (n_train, n_classes), on the device.
    order:
        int32 (n_batches, batch_size) from :func:`_batch_order`.
    evaluate:
        (x, onehot) pairs to measure the accuracy on after the steps.
    weights:
        float32 (n_batches, batch_size) from :func:`_batch_weights`, or None.

    Returns
    -------
    The new state and optimiser state, and float32 (1 + len(evaluate),): the
    mean batch loss (NaN if any parameter is no longer finite) then each
    accuracy (one small array: one transfer).
    """
    state, opt_state, mean_loss = _train_steps(state, opt_state, x, onehot, order, weights,
                                               graphdef=graphdef, opt=opt, loss=loss)
    # The last step may have pushed the weights past float32 with a finite loss.
    finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(p)) for p in jax.tree.leaves(state)]))
    mean_loss = jnp.where(finite, mean_loss, jnp.nan)
    scores = [mean_loss] + [_accuracy(state, ex, ey, graphdef=graphdef, batch_size=_EVAL_BATCH)
                            for ex, ey in evaluate]
    return state, opt_state, jnp.stack(scores)


_EPOCH_STATIC = ("graphdef", "opt", "loss")
_epoch = functools.partial(jax.jit, static_argnames=_EPOCH_STATIC,
                           donate_argnames=("state", "opt_state"))(_epoch_body)


@functools.partial(jax.jit, static_argnames=_EPOCH_STATIC, donate_argnames=("state", "opt_state"))
def _epoch_seeds(state: nnx.State, opt_state: optax.OptState, x: jax.Array, onehot: jax.Array,
                 order: jax.Array, evaluate: tuple[tuple[jax.Array, jax.Array], ...],
                 weights: jax.Array | None = None, *, graphdef: nnx.GraphDef, opt: _OptSpec,
                 loss: str) -> tuple[nnx.State, optax.OptState, jax.Array]:
    """:func:`_epoch_body` for several networks at once (``jax.vmap``): ``state``,
    ``opt_state`` and ``order`` (n_seeds, n_batches, batch_size) have a leading seed
    axis, the data and ``weights`` (the same for every seed) are shared; the scores
    are float32 (n_seeds, 1 + len(evaluate))."""
    one = functools.partial(_epoch_body, graphdef=graphdef, opt=opt, loss=loss)
    return jax.vmap(one, in_axes=(0, 0, None, None, 0, None, None))(
        state, opt_state, x, onehot, order, evaluate, weights)


def _progress_bar(enabled: bool):
    """A Rich progress bar on a terminal, else a no-op stand-in."""
    if not (enabled and sys.stderr.isatty()):
        return _NoProgress()
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("training"), BarColumn(), MofNCompleteColumn(), TextColumn("epochs"),
        TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
        console=Console(stderr=True), transient=True,
    )


class _NoProgress:
    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def add_task(self, *args: object, **kwargs: object) -> int:
        return 0

    def update(self, *args: object, **kwargs: object) -> None:
        return None


def fit_model(dataset: Dataset, model: ModelConfig, train: TrainConfig, seed: int,
              progress: bool = False) -> TrainResult:
    """Train an MLP or a CNN (``model.kind``) on the dataset's train split; evaluate on its
    test split each epoch.

    Parameters
    ----------
    dataset:
        Prepared data: ``train.x`` float32 (n_train, 784), ``train.onehot``
        float32 (n_train, n_classes); the same for ``test``. The probe split is
        not used.
    model:
        Hidden widths, activation function, loss and initialiser.
    train:
        Optimiser, learning rate, epsilon, batch size, last partial batch, epochs,
        snapshot epochs.
    seed:
        Seeds the initial weights and the per-epoch shuffling.
    progress:
        Show a Rich progress bar, if standard error is a terminal.

    Returns
    -------
    TrainResult

    Raises
    ------
    TrainingError
        When the training loss stops being finite.
    """
    return fit_models(dataset, model, train, (seed,), progress)[0]


def _fit_one_of_several(dataset: Dataset, model: ModelConfig, train: TrainConfig, seed: int,
                        progress: bool) -> TrainResult:
    """One seed of several, by the one-seed program; a divergence names the seed."""
    try:
        return fit_models(dataset, model, train, (seed,), progress)[0]
    except TrainingError as exc:
        raise TrainingError(str(exc).replace("training diverged", f"training of seed {seed} "
                                             "diverged", 1)) from None


def fit_models(dataset: Dataset, model: ModelConfig, train: TrainConfig, seeds: Sequence[int],
               progress: bool = False) -> tuple[TrainResult, ...]:
    """Train one network per seed, as :func:`fit_model` would each, in one program.

    Several seeds are trained together: every epoch is one jitted call of the
    training steps vmapped over the seeds (:func:`_epoch_seeds`), each seed with
    its own initial weights and batch orders, the data shared. Each network gets
    the batch orders and initial weights :func:`fit_model` gives it; XLA's
    batched products may round differently from the one-seed program's (float32
    rounding, well within the tolerance ``tests/test_train.py`` checks). One seed
    runs the one-seed program, and so does each seed of a convolutional network:
    vmapped over seeds, its convolutions become grouped ones, which XLA's CPU code
    ran about 3x slower than the seeds one after the other (``bench/cnn_train.py``).

    Returns
    -------
    One TrainResult per seed, in the order of ``seeds``.

    Raises
    ------
    TrainingError
        When the training loss of any seed stops being finite (naming the seed
        when there are several).
    """
    seeds = tuple(int(s) for s in seeds)
    if not seeds:
        raise ValueError("fit_models: expected at least one seed")
    n_train = dataset.train.n_samples
    if n_train == 0:
        raise TrainingError("the training split is empty; check data.classes and data.n_per_class")
    arch = network_architecture(model, dataset)
    if len(seeds) > 1 and arch[0] == "cnn":
        return tuple(_fit_one_of_several(dataset, model, train, seed, progress) for seed in seeds)
    many = len(seeds) > 1
    opt = _opt_spec(train)
    graphdef = nnx.graphdef(_abstract_model(arch, model.activation))
    states = [_init_state(np.uint32(seed), arch=arch, init=model.init) for seed in seeds]
    opt_states = [_init_opt_state(state, opt=opt) for state in states]
    # A split smaller than one batch trains on all of it in one batch.
    batch_size = min(train.batch_size, n_train)

    # The data go to the device once; each epoch sends only its batch order.
    x_train = jnp.asarray(dataset.train.x)
    y_train = jnp.asarray(dataset.train.onehot)
    evaluate = ((x_train, y_train),
                (jnp.asarray(dataset.test.x), jnp.asarray(dataset.test.onehot)))

    keep = set(snapshot_epochs(train))
    snapshots: list[dict[int, Params]] = [{} for _ in seeds]
    if 0 in keep:
        for snaps, state in zip(snapshots, states):
            snaps[0] = _to_numpy(graphdef, state)
    if many:
        state, opt_state, epoch_fn = _stack(states), _stack(opt_states), _epoch_seeds
    else:
        state, opt_state, epoch_fn = states[0], opt_states[0], _epoch
    del states, opt_states
    history = [{k: np.zeros(train.epochs, dtype=np.float64) for k in HISTORY_KEYS} for _ in seeds]
    with _progress_bar(progress) as bar:
        task = bar.add_task("train", total=train.epochs, status="")
        for epoch in range(1, train.epochs + 1):
            orders = [_batch_order(seed, epoch, n_train, batch_size, train.drop_last)
                      for seed in seeds]
            state, opt_state, scores = epoch_fn(state, opt_state, x_train, y_train,
                                                np.stack(orders) if many else orders[0],
                                                evaluate, _batch_weights(n_train, orders[0]),
                                                graphdef=graphdef, opt=opt, loss=model.loss)
            scores = np.asarray(scores).reshape(len(seeds), -1).astype(np.float64)
            for seed, hist, (mean_loss, train_acc, test_acc) in zip(seeds, history, scores):
                if not math.isfinite(mean_loss):
                    which = f" of seed {seed}" if many else ""
                    raise TrainingError(
                        f"training{which} diverged at epoch {epoch} (loss {mean_loss}); "
                        f"lower train.learning_rate (now {train.learning_rate:g})"
                    )
                for name, value in zip(HISTORY_KEYS, (epoch, mean_loss, train_acc, test_acc)):
                    hist[name][epoch - 1] = value
            if epoch in keep:
                for snaps, params in zip(snapshots, _params_per_seed(graphdef, state, many)):
                    snaps[epoch] = params
            bar.update(task, advance=1, status=f"loss {scores[0, 0]:.4f}  "
                                               f"test accuracy {scores[0, 2]:.4f}")
    last = (None if train.epochs in keep else _params_per_seed(graphdef, state, many))
    return tuple(TrainResult(params=snaps[train.epochs] if last is None else last[i],
                             snapshots=snaps, history=hist, seed=seed)
                 for i, (seed, snaps, hist) in enumerate(zip(seeds, snapshots, history)))


def _stack(trees: list) -> object:
    """Pytrees of the same structure stacked leaf by leaf along a new leading (seed) axis."""
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *trees)


def _params_per_seed(graphdef: nnx.GraphDef, state: nnx.State, many: bool) -> list[Params]:
    """Each seed's parameters in numpy from a state stacked over seeds (``many``), or one's."""
    if not many:
        return [_to_numpy(graphdef, state)]
    n_seeds = jax.tree.leaves(state)[0].shape[0]
    return [_to_numpy(graphdef, jax.tree.map(lambda a, i=i: a[i], state))
            for i in range(n_seeds)]


def _to_numpy(graphdef: nnx.GraphDef, state: nnx.State) -> Params:
    return params_of(nnx.merge(graphdef, state))
