"""Training throughput of sigreport's jitted epoch against PyTorch eager, on the CPU.

Both train the same MLP (784-256-128-64-10, ReLU, Adam, learning rate 1e-3,
batch 128, cross-entropy) for whole epochs over the 60,000 MNIST training
images, in one process, with the same thread count; the machine's float32
matmul peak is measured with numpy in the same run. Rounds alternate between
the three measurements and each keeps its best, so a busy neighbour on the
machine skews them alike. Compile time is reported apart from throughput.

Then the default experiment's training stage is timed as a run would see it
(compile included).

    .venv/bin/python bench/train_throughput.py [--rounds 4] [--threads N]
    .venv/bin/python bench/train_throughput.py --capture-memory

The last line of the default mode is
``ratio_vs_torch=X.XX fraction_of_peak=Y.YY`` (samples/s over PyTorch's;
training FLOP/s, counted as 6 * parameters per sample, over the matmul peak).
``--capture-memory`` instead trains [256, 256, 256] on all 70,000 MNIST images
for one epoch, captures every layer of every image, and prints the peak RSS.
"""

from __future__ import annotations

import argparse
import itertools
import os
import resource
import sys
import time
from typing import Protocol

SIZES = (784, 256, 128, 64, 10)
BATCH = 128
LEARNING_RATE = 1e-3


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def _mnist_train():
    """The 60,000 training images as float32 (n, 784) in [0, 1] and int64 labels."""
    import numpy as np

    from sigreport.config import DataConfig
    from sigreport.data import load_raw

    raw = load_raw(DataConfig())
    x = raw.train_images.reshape(len(raw.train_images), -1).astype(np.float32) / np.float32(255)
    return x, raw.train_labels.astype(np.int64)


def _matmul_peak(rng, sizes=(1024, 2048)) -> float:
    """Best float32 FLOP/s of numpy's matmul (the BLAS numpy links) over a few sizes."""
    import numpy as np

    best = 0.0
    for n in sizes:
        a = rng.random((n, n), dtype=np.float32)
        b = rng.random((n, n), dtype=np.float32)
        a @ b
        for _ in range(3):
            start = time.perf_counter()
            a @ b
            best = max(best, 2 * n**3 / (time.perf_counter() - start))
    return best


class _Sigreport:
    """sigreport's training epoch (the function fit_model runs), without evaluation."""

    def __init__(self, x, y) -> None:
        import jax
        import jax.numpy as jnp
        import numpy as np
        from flax import nnx

        from sigreport import train

        self.train, self.np = train, np
        self.opt = ("adam", LEARNING_RATE, 0.9, 0.0, 1e-8)
        arch = ("mlp", SIZES)
        self.graphdef = nnx.graphdef(train._abstract_model(arch, "relu"))
        self.state = train._init_state(np.uint32(0), arch=arch, init="lecun_normal")
        self.opt_state = train._init_opt_state(self.state, opt=self.opt)
        self.x = jnp.asarray(x)
        self.onehot = jax.nn.one_hot(jnp.asarray(y), SIZES[-1], dtype=jnp.float32)
        self.n_samples = len(x)
        self.epoch = 0
        start = time.perf_counter()
        order = train._batch_order(0, 0, self.n_samples, BATCH)
        self.compiled = train._epoch.lower(
            self.state, self.opt_state, self.x, self.onehot, order, (),
            graphdef=self.graphdef, opt=self.opt, loss="cross_entropy").compile()
        self.compile_seconds = time.perf_counter() - start

    def run_epoch(self) -> tuple[int, float, float]:
        """Samples trained on, seconds and the epoch's loss."""
        self.epoch += 1
        start = time.perf_counter()
        order = self.train._batch_order(0, self.epoch, self.n_samples, BATCH)
        self.state, self.opt_state, scores = self.compiled(
            self.state, self.opt_state, self.x, self.onehot, order, ())
        loss = float(scores[0])
        return order.size, time.perf_counter() - start, loss


class _Torch:
    """The same network and optimiser in PyTorch eager mode, a plain training loop."""

    def __init__(self, x, y, threads: int) -> None:
        import torch

        torch.manual_seed(0)
        torch.set_num_threads(threads)
        self.torch = torch
        layers = []
        for a, b in itertools.pairwise(SIZES[:-1]):
            layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
        self.model = torch.nn.Sequential(*layers, torch.nn.Linear(SIZES[-2], SIZES[-1]))
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=LEARNING_RATE)
        self.loss = torch.nn.CrossEntropyLoss()
        self.x = torch.from_numpy(x)
        self.y = torch.from_numpy(y)
        self.generator = torch.Generator().manual_seed(0)

    def run_epoch(self) -> tuple[int, float, float]:
        """Samples trained on, seconds and the last batch's loss."""
        torch = self.torch
        start = time.perf_counter()
        n_batches = len(self.x) // BATCH  # drop the last partial batch, as sigreport does
        order = torch.randperm(len(self.x), generator=self.generator)
        for i in range(n_batches):
            rows = order[i * BATCH:(i + 1) * BATCH]
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.loss(self.model(self.x[rows]), self.y[rows])
            loss.backward()
            self.optimizer.step()
        return n_batches * BATCH, time.perf_counter() - start, float(loss.detach())


class _Runner(Protocol):
    def run_epoch(self) -> tuple[int, float, float]: ...


def _product_weights(np):
    rng = np.random.default_rng(0)
    return [(rng.standard_normal((a, b)) / np.sqrt(a)).astype(np.float32)
            for a, b in itertools.pairwise(SIZES)]


class _ProductsXLA:
    """Only a step's matrix products, as XLA compiles them: per batch the rows gathered,
    the forward products, the weight gradients' products and (below the first layer)
    the input gradients', and a plain SGD update that keeps every product needed; no
    activation, loss or Adam. A jitted epoch under lax.scan, as sigreport's is."""

    def __init__(self, x) -> None:
        import jax
        import jax.numpy as jnp
        import numpy as np

        from sigreport import train

        self.train, self.n_samples, self.epoch = train, len(x), 0
        self.x = jnp.asarray(x)
        self.ws = [jnp.asarray(w) for w in _product_weights(np)]

        def epoch(ws, x, order):
            def step(ws, rows):
                hs = [x[rows]]
                for w in ws:
                    hs.append(hs[-1] @ w)
                g, new = hs[-1], list(ws)
                for i in reversed(range(len(ws))):
                    new[i] = ws[i] - 1e-6 * (hs[i].T @ g)
                    if i:
                        g = g @ ws[i].T
                return new, None

            return jax.lax.scan(step, ws, order)[0]

        order = train._batch_order(0, 0, self.n_samples, BATCH)
        self.compiled = jax.jit(epoch).lower(self.ws, self.x, order).compile()

    def run_epoch(self) -> tuple[int, float, float]:
        self.epoch += 1
        order = self.train._batch_order(0, self.epoch, self.n_samples, BATCH)
        start = time.perf_counter()
        self.ws = self.compiled(self.ws, self.x, order)
        self.ws[0].block_until_ready()
        return order.size, time.perf_counter() - start, 0.0


class _ProductsBLAS:
    """The same products and update with numpy (the BLAS it links), a Python loop."""

    def __init__(self, x) -> None:
        import numpy as np

        self.np, self.x, self.ws = np, x, _product_weights(np)
        self.rng = np.random.default_rng(0)

    def run_epoch(self) -> tuple[int, float, float]:
        np, ws = self.np, self.ws
        n_batches = len(self.x) // BATCH
        order = self.rng.permutation(len(self.x))
        start = time.perf_counter()
        for b in range(n_batches):
            hs = [self.x[order[b * BATCH:(b + 1) * BATCH]]]
            for w in ws:
                hs.append(hs[-1] @ w)
            g = hs[-1]
            for i in reversed(range(len(ws))):
                grad = hs[i].T @ g
                if i:
                    g = g @ ws[i].T
                ws[i] -= np.float32(1e-6) * grad
        return n_batches * BATCH, time.perf_counter() - start, 0.0


def _default_experiment() -> str:
    from sigreport.config import load_config
    from sigreport.data import load_raw, prepare_dataset
    from sigreport.train import fit_model

    config = load_config()
    dataset = prepare_dataset(load_raw(config.data), config.data, config.seed)
    start = time.perf_counter()
    result = fit_model(dataset, config.model, config.train, config.seed)
    wall = time.perf_counter() - start
    return (f"default experiment {config.name}: hidden {list(config.model.hidden)}, "
            f"{dataset.train.n_samples} training images, {config.train.epochs} epochs: "
            f"training stage {wall:.2f} s wall (compile included), "
            f"test accuracy {result.history['test_accuracy'][-1]:.4f}")


def bench(rounds: int, threads: int) -> None:
    import numpy as np
    from threadpoolctl import threadpool_limits

    x, y = _mnist_train()
    n_params = sum(a * b + b for a, b in itertools.pairwise(SIZES))
    flops_per_sample = 6 * n_params
    print(f"model {'-'.join(map(str, SIZES))}: {n_params} parameters, batch {BATCH}, Adam; "
          f"{len(x)} MNIST images; threads={threads} "
          f"(torch.set_num_threads, OpenBLAS limit; XLA's CPU pool has one thread per core, "
          f"{os.cpu_count()} here)")
    ours = _Sigreport(x, y)
    theirs = _Torch(x, y, threads)
    runners: dict[str, _Runner] = {"sigreport": ours, "torch": theirs,
                                   "xla_products": _ProductsXLA(x),
                                   "blas_products": _ProductsBLAS(x)}
    rng = np.random.default_rng(0)
    best = dict.fromkeys([*runners, "peak"], 0.0)
    losses: dict[str, float] = {}
    for warm in range(rounds + 1):
        for name, runner in runners.items():
            with threadpool_limits(limits=threads):
                n, seconds, losses[name] = runner.run_epoch()
            if warm:  # the first round warms caches and allocators
                best[name] = max(best[name], n / seconds)
        with threadpool_limits(limits=threads):
            best["peak"] = max(best["peak"], _matmul_peak(rng))
    achieved = best["sigreport"] * flops_per_sample
    print(f"matmul peak (numpy float32, best of {rounds + 1} rounds): "
          f"{best['peak'] / 1e9:.1f} GFLOP/s")
    print(f"sigreport (JAX/Flax NNX, jitted epoch under lax.scan): compile "
          f"{ours.compile_seconds:.2f} s; {best['sigreport']:.0f} samples/s "
          f"(best of {rounds} epochs), {achieved / 1e9:.1f} GFLOP/s; "
          f"loss after {ours.epoch} epochs {losses['sigreport']:.3f}")
    print(f"PyTorch {theirs.torch.__version__} eager: {best['torch']:.0f} samples/s "
          f"(best of {rounds} epochs), {best['torch'] * flops_per_sample / 1e9:.1f} GFLOP/s; "
          f"last batch loss {losses['torch']:.3f}")
    # What is left when a step is nothing but its products: sigreport can be no faster than
    # XLA's products alone, whatever the loop around them.
    print(f"a step's matrix products alone (gather, forward, both gradients' products, SGD "
          f"update; no activation, loss or Adam), best of {rounds} epochs: XLA under "
          f"lax.scan {best['xla_products']:.0f} samples/s, numpy/BLAS "
          f"{best['blas_products']:.0f} samples/s (BLAS / XLA "
          f"{best['blas_products'] / best['xla_products']:.2f}); sigreport's whole step runs "
          f"at {best['sigreport'] / best['xla_products']:.2f} of XLA's products alone, "
          f"which are {best['xla_products'] / best['torch']:.2f}x PyTorch's whole step")
    print(_default_experiment())
    print(f"ratio_vs_torch={best['sigreport'] / best['torch']:.2f} "
          f"fraction_of_peak={achieved / best['peak']:.2f}")


def capture_memory() -> None:
    from sigreport.activations import capture_activations
    from sigreport.config import DataConfig, ModelConfig, TrainConfig
    from sigreport.data import load_raw, prepare_dataset
    from sigreport.train import fit_model

    # Every image of both splits: all ten classes, no per-class cap.
    cfg = DataConfig(classes=tuple(range(10)), probe_classes=(), n_per_class="all")
    dataset = prepare_dataset(load_raw(cfg), cfg, seed=0)
    model = ModelConfig(hidden=(256, 256, 256))
    start = time.perf_counter()
    result = fit_model(dataset, model, TrainConfig(epochs=1, snapshot_epochs=()), seed=0)
    trained = time.perf_counter()
    acts = capture_activations(result.params, dataset, model.activation)
    captured = time.perf_counter()
    n_values = sum(v.size for s in ("train", "test", "probe")
                   for k, v in acts.split(s).layers.items() if k != "input")
    print(f"{dataset.train.n_samples} + {dataset.test.n_samples} images, hidden [256, 256, 256]: "
          f"training 1 epoch {trained - start:.1f} s, capture {captured - trained:.1f} s, "
          f"{n_values * 4 / 2**20:.0f} MB of recorded layers besides the inputs")
    print(f"peak_rss_mb={_peak_rss_mb():.0f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=4, help="timed epochs per framework")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                        help="threads for PyTorch and numpy (default: this process's cores)")
    parser.add_argument("--capture-memory", action="store_true",
                        help="measure the peak RSS of training and capture on all of MNIST")
    args = parser.parse_args(argv)
    if args.capture_memory:
        capture_memory()
    else:
        bench(args.rounds, args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
