"""Training curves like the book's figures: accuracy and loss per epoch, training against validation."""
import os
from typing import Dict, List

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from textrnn.contract import ACCURACY_PNG, LOSS_PNG  # noqa: E402


def best_epoch(member: Dict[str, List[float]]) -> float:
    """The epoch (fractional when validated within epochs) of a history's lowest validation loss: the weights the
    Trainer keeps."""
    epochs = member.get("epoch") or range(1, len(member["val_loss"]) + 1)
    return epochs[min(range(len(epochs)), key=member["val_loss"].__getitem__)]


def draw_metric(axes, history: Dict[str, List[float]], metric: str, title: str) -> None:
    """Draws `metric` and `val_<metric>` against the epoch (`history["epoch"]`, passes over the training data at
    each validation, when the history has it) on `axes`, with the kept weights' epoch (the lowest validation
    loss) marked; an ensemble's history (`{"members": [...]}`) gives one pair of curves per member, in shades
    of the same colours."""
    members = history.get("members", [history])
    for index, member in enumerate(members):
        epochs = member.get("epoch") or range(1, len(member[metric]) + 1)
        marker = "." if len(epochs) > 1 and epochs[1] - epochs[0] < 1 else None  # several validations per epoch
        suffix = f" ({len(members)} models)" if len(members) > 1 else ""
        shade = 1.0 - 0.6 * index / max(len(members) - 1, 1)
        axes.plot(epochs, member[metric], "-", color=(0, 0, shade), marker=marker,
                  label=f"training {metric}{suffix}" if index == 0 else None)
        if f"val_{metric}" in member:
            axes.plot(epochs, member[f"val_{metric}"], "-", color=(shade, 0, 0), marker=marker,
                      label=f"validation {metric}{suffix}" if index == 0 else None)
        if "val_loss" in member and f"val_{metric}" in member:
            best = best_epoch(member)
            axes.plot([best], [member[f"val_{metric}"][list(epochs).index(best)]], "o", color=(shade, 0, 0),
                      markerfacecolor="none", markersize=10, label="kept weights" if index == 0 else None)
    axes.set_xlabel("epoch")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylabel(metric)
    axes.set_title(title)
    axes.legend()
    axes.grid(alpha=0.3)


def plot_metric(history: Dict[str, List[float]], metric: str, path: str, title: str) -> None:
    """Writes a PNG of `metric` against the epoch, as `draw_metric` draws it."""
    figure, axes = plt.subplots(figsize=(6, 4), dpi=100)
    draw_metric(axes, history, metric, title)
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
