"""Training curves like the book's figures: accuracy and loss per epoch, training against validation."""
import os
from typing import Dict, List

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

ACCURACY_PNG = "accuracy.png"
LOSS_PNG = "loss.png"


def plot_metric(history: Dict[str, List[float]], metric: str, path: str, title: str) -> None:
    """Writes a PNG of `metric` and `val_<metric>` against the epoch number."""
    epochs = range(1, len(history[metric]) + 1)
    figure, axes = plt.subplots(figsize=(6, 4), dpi=100)
    axes.plot(epochs, history[metric], "b-", label=f"training {metric}")
    if f"val_{metric}" in history:
        axes.plot(epochs, history[f"val_{metric}"], "r-", label=f"validation {metric}")
    axes.set_xlabel("epoch")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylabel(metric)
    axes.set_title(title)
    axes.legend()
    axes.grid(alpha=0.3)
    figure.tight_layout()
    import tensorflow as tf  # gfile: the Trainer's run folder may be on GCS and the like

    with tf.io.gfile.GFile(path, "wb") as f:
        figure.savefig(f, format="png")
    plt.close(figure)


def plot_history(history: Dict[str, List[float]], folder: str, name: str = "textrnn") -> List[str]:
    """Writes the accuracy and loss PNGs into `folder`; returns their paths."""
    paths = [os.path.join(folder, ACCURACY_PNG), os.path.join(folder, LOSS_PNG)]
    plot_metric(history, "accuracy", paths[0], f"{name}: accuracy")
    plot_metric(history, "loss", paths[1], f"{name}: loss")
    return paths
