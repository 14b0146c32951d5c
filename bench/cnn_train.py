"""The convolutional network's training step on the CPU: the two choices that set its speed.

The built-in CNN (``model.kind = "cnn"``; here ``model.conv = [16, 32, 64, 64]`` on 28x28
images, as bench/scale.py runs it) trains with

1. its 2x2 max pool written as a reshape and a max (``sigreport.model.max_pool_2x2``),
   against ``nnx.max_pool`` (``lax.reduce_window``, whose gradient is a select-and-scatter);
2. several seeds trained one after the other, against one program vmapped over the seeds
   (what the MLP does: its vmapped matrix products are batched ones, a CNN's vmapped
   convolutions are grouped ones).

Each is timed as a jitted gradient step on a batch of 128 images (compile apart), the
alternatives alternating for ``--rounds`` rounds, the best of each kept; prints the
milliseconds and the ratios, and checks that both pools give the same gradients.

    .venv/bin/python bench/cnn_train.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from sigreport.model import max_pool_2x2

CHANNELS = (1, 16, 32, 64, 64)
BATCH = 128
SEEDS = 3


def _reduce_window_pool(x: jax.Array) -> jax.Array:
    return nnx.max_pool(x, window_shape=(2, 2), strides=(2, 2))


def _loss(pool):
    def loss(weights, x):
        for w in weights:
            x = jax.lax.conv_general_dilated(x, w, (1, 1), "SAME",
                                             dimension_numbers=("NHWC", "HWIO", "NHWC"))
            x = pool(jax.nn.relu(x))
        return jnp.sum(x ** 2)
    return loss


def _best_ms(fn, args, rounds: int, steps: int = 5) -> float:
    jax.block_until_ready(fn(*args))            # compile
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(steps):
            out = fn(*args)
        jax.block_until_ready(out)
        best = min(best, (time.perf_counter() - t) / steps * 1000)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    weights = [jnp.asarray(rng.normal(0, (9 * a) ** -0.5, (3, 3, a, b)).astype(np.float32))
               for a, b in zip(CHANNELS, CHANNELS[1:])]
    x = jnp.asarray(rng.random((BATCH, 28, 28, 1), dtype=np.float32))

    reshape = jax.jit(jax.grad(_loss(max_pool_2x2)))
    window = jax.jit(jax.grad(_loss(_reduce_window_pool)))
    same = all(bool(jnp.array_equal(a, b)) for a, b in zip(reshape(weights, x), window(weights, x)))
    stacked = [jnp.stack([w * (1 + 0.1 * s) for s in range(SEEDS)]) for w in weights]
    vmapped = jax.jit(jax.vmap(jax.grad(_loss(max_pool_2x2)), in_axes=(0, None)))

    times: dict[str, list[float]] = {"reshape": [], "window": [], "vmapped": []}
    for _ in range(args.rounds):
        times["reshape"].append(_best_ms(reshape, (weights, x), 1))
        times["window"].append(_best_ms(window, (weights, x), 1))
        times["vmapped"].append(_best_ms(vmapped, (stacked, x), 1))
    best = {k: min(v) for k, v in times.items()}
    print(f"CNN conv {list(CHANNELS[1:])}, batch {BATCH}, gradient step:")
    print(f"  max pool as reshape + max   {best['reshape']:8.1f} ms")
    print(f"  nnx.max_pool (reduce_window){best['window']:8.1f} ms   "
          f"ratio {best['window'] / best['reshape']:.2f}x; same gradients: {same}")
    print(f"  {SEEDS} seeds one after another  {SEEDS * best['reshape']:8.1f} ms")
    print(f"  {SEEDS} seeds vmapped            {best['vmapped']:8.1f} ms   "
          f"ratio {best['vmapped'] / (SEEDS * best['reshape']):.2f}x")
    print(f"pool_speedup={best['window'] / best['reshape']:.2f} "
          f"sequential_seeds_speedup={best['vmapped'] / (SEEDS * best['reshape']):.2f}")


if __name__ == "__main__":
    main()
