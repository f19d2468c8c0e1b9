"""Reference run of logexp's training protocol in Keras, for a side-by-side benchmark.

The paper ("Estimating Multiplicative Relations in Neural Networks") trained its networks with
Keras on the TensorFlow backend. This script runs one training of that protocol, with the same
defaults as `logexp train`, so that its wall time and test error can be set beside logexp's on
the same machine:

- data: ``--n-train`` rows (10000) with every input uniform in [10, 100) and ``--n-test`` rows
  (2000) uniform in [100, 1000), float32 inputs, targets computed in float64 from those inputs;
  NumPy draws them from ``--seed``;
- network: Dense(16, A1) -> Dense(12, A2) -> Dense(1, linear), Glorot-uniform weights and zero
  biases (Keras defaults); ``--pair lg`` is the paper's symlog/symexp pair, anything else is two
  Keras activation names separated by a comma, e.g. ``relu,linear``;
- training: Adam(learning_rate=1e-3) with Keras' other defaults, loss "mae", batch size 32,
  reshuffled every epoch, ``--epochs`` epochs (100); ``keras.utils.set_random_seed(--seed)``
  seeds initialisation and shuffling.

It prints one JSON line: the wall time of ``model.fit`` alone (``fit_seconds``, which includes
tracing the training step in the first epoch) and of data, build, fit and evaluation together
(``total_seconds``, without the framework's import), the CPU time of this process's threads
during ``model.fit`` (``fit_cpu_seconds``: with ``--threads 1`` it stays close to the quiet
wall time when other processes compete for the cores), the median epoch time, the test
percentage error ``100 * mean(|pred - y| / |y|)`` (the paper's eq. 3) and test MAE computed in
float64, and the final epoch's training loss.

Usage (Keras 3 on the TensorFlow backend, e.g. ``pip install tensorflow-cpu``)::

    python benches/keras_protocol.py --function "x1*x2/10" --pair lg --seed 0
    python benches/keras_protocol.py --function "x1*x2*x3*x4/1000" --pair lg --threads 1
    python benches/keras_protocol.py --function "x1*x2/10" --pair relu,linear --epochs 100

``--threads N`` sets TensorFlow's intra- and inter-op thread pools to N threads (0 leaves
TensorFlow's default, one thread per core).
"""

import argparse
import json
import math
import os
import statistics
import sys
import time

import numpy as np

# The seven target functions of the paper (Table I), as functions of the input columns.
FUNCTIONS = {
    "x1*x2": (2, lambda x: x[:, 0] * x[:, 1]),
    "x1*x2/10": (2, lambda x: x[:, 0] * x[:, 1] / 10),
    "x1*x2*x3": (3, lambda x: x[:, 0] * x[:, 1] * x[:, 2]),
    "x1*x2*x3/100": (3, lambda x: x[:, 0] * x[:, 1] * x[:, 2] / 100),
    "x1*x2*x3*x4": (4, lambda x: x[:, 0] * x[:, 1] * x[:, 2] * x[:, 3]),
    "x1*x2*x3*x4/1000": (4, lambda x: x[:, 0] * x[:, 1] * x[:, 2] * x[:, 3] / 1000),
    "x1*(x2+x3)+x4": (4, lambda x: x[:, 0] * (x[:, 1] + x[:, 2]) + x[:, 3]),
}

TRAIN_RANGE = (10.0, 100.0)
TEST_RANGE = (100.0, 1000.0)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--function", default="x1*x2/10", choices=sorted(FUNCTIONS))
    p.add_argument("--pair", default="lg", help='"lg" (symlog,symexp) or "A1,A2" Keras names')
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--n-train", type=int, default=10000)
    p.add_argument("--n-test", type=int, default=2000)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=0, help="TensorFlow threads (0: its default)")
    return p.parse_args()


def versions():
    """Versions of Python, NumPy, Keras and TensorFlow."""
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": sys.version.split()[0], "numpy": np.__version__}
    for name in ["keras", "tensorflow-cpu", "tensorflow"]:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found


def sample(rng, n, n_inputs, bounds, target):
    """`n` float32 rows uniform in `bounds` and their float64 targets."""
    x = rng.uniform(bounds[0], bounds[1], size=(n, n_inputs)).astype(np.float32)
    return x, target(x.astype(np.float64))


def build(keras, n_inputs, pair):
    """The paper's network with activation pair `pair`."""
    if pair == "lg":
        ops = keras.ops

        def symlog(x):
            return ops.sign(x) * ops.log1p(ops.abs(x))

        def symexp(x):
            return ops.sign(x) * ops.expm1(ops.abs(x))

        first, second = symlog, symexp
    else:
        first, second = pair.split(",")
    return keras.Sequential(
        [
            keras.Input(shape=(n_inputs,)),
            keras.layers.Dense(16, activation=first),
            keras.layers.Dense(12, activation=second),
            keras.layers.Dense(1),
        ]
    )


def epoch_timer(keras, seconds):
    """A Keras callback appending the wall time of every epoch to `seconds`."""

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds.append(time.perf_counter() - self.start)

    return EpochTimer()


def main():
    args = parse_args()
    if args.pair != "lg" and len(args.pair.split(",")) != 2:
        sys.exit(f'--pair must be "lg" or two activations "A1,A2", not {args.pair!r}')

    os.environ["KERAS_BACKEND"] = "tensorflow"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    if args.threads > 0:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    import keras

    total_start = time.perf_counter()
    n_inputs, target = FUNCTIONS[args.function]
    rng = np.random.default_rng(args.seed)
    x_train, y_train = sample(rng, args.n_train, n_inputs, TRAIN_RANGE, target)
    x_test, y_test = sample(rng, args.n_test, n_inputs, TEST_RANGE, target)

    keras.utils.set_random_seed(args.seed)
    model = build(keras, n_inputs, args.pair)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), loss="mae")

    epoch_seconds = []
    fit_start, fit_cpu_start = time.perf_counter(), time.process_time()
    history = model.fit(
        x_train,
        y_train.astype(np.float32),
        batch_size=args.batch_size,
        epochs=args.epochs,
        shuffle=True,
        verbose=0,
        callbacks=[epoch_timer(keras, epoch_seconds)],
    )
    fit_seconds = time.perf_counter() - fit_start
    fit_cpu_seconds = time.process_time() - fit_cpu_start

    pred = model.predict(x_test, batch_size=args.batch_size, verbose=0)
    pred = pred.reshape(-1).astype(np.float64)
    abs_err = np.abs(pred - y_test)
    test_pct_err = float(100.0 * np.mean(abs_err / np.abs(y_test)))
    test_mae = float(np.mean(abs_err))
    total_seconds = time.perf_counter() - total_start

    def finite(v):
        return v if math.isfinite(v) else None

    print(
        json.dumps(
            {
                "framework": "keras",
                "backend": keras.backend.backend(),
                "versions": versions(),
                "function": args.function,
                "pair": "symlog,symexp" if args.pair == "lg" else args.pair,
                "seed": args.seed,
                "epochs": args.epochs,
                "threads": args.threads,
                "steps_per_epoch": math.ceil(args.n_train / args.batch_size),
                "fit_seconds": fit_seconds,
                "fit_cpu_seconds": fit_cpu_seconds,
                "median_epoch_seconds": statistics.median(epoch_seconds),
                "total_seconds": total_seconds,
                "test_pct_err": finite(test_pct_err),
                "test_mae": finite(test_mae),
                "final_train_loss": finite(float(history.history["loss"][-1])),
            }
        )
    )


if __name__ == "__main__":
    main()
