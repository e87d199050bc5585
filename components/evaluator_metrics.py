"""TFMA metrics for the Evaluator that TFMA 0.52 computes wrongly.

`tfma.metrics.BinaryCrossEntropy` (0.52.0) merges accumulators with

    result = next(iter(accumulators))
    for accumulator in accumulators:  # starts again from the first when `accumulators` is a list
        result.merge(accumulator)

so whenever Beam hands it a list, the first partial sum is counted twice, and the reported loss depends on
how the examples were bundled: on 157 eval headlines one model scored 0.519 in one run and 0.672 in
another, against 0.596 computed directly. It also takes log(0) for a probability of exactly 0 or 1 (float32
sigmoids reach 1.0). The blessing gate compares this number with a bound and with the baseline's, so it
uses `ExactBinaryCrossEntropy` below: the same metric (name `binary_crossentropy`), merged correctly, with
probabilities clipped to [1e-7, 1 - 1e-7] as Keras does for the training loss.
"""
from typing import Dict, Iterable, Optional

import numpy as np
from tensorflow_model_analysis.metrics import cross_entropy_metrics, metric_types, metric_util
from tensorflow_model_analysis.proto import config_pb2

EPSILON = 1e-7


class _Combiner(cross_entropy_metrics._BinaryCrossEntropyCombiner):  # noqa: SLF001 - fixes its merge only
    def merge_accumulators(self, accumulators: Iterable):
        accumulators = iter(accumulators)
        result = next(accumulators)
        for accumulator in accumulators:
            result.merge(accumulator)
        return result

    def _cross_entropy(self, label: np.ndarray, prediction: np.ndarray) -> float:
        return super()._cross_entropy(label, np.clip(prediction, EPSILON, 1.0 - EPSILON))


def _computations(
    name: Optional[str] = None,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    eval_config: Optional[config_pb2.EvalConfig] = None,
    model_name: Optional[str] = None,
    output_name: Optional[str] = None,
    example_weighted: bool = False,
    sub_key: Optional[metric_types.SubKey] = None,
    aggregation_type: Optional[metric_types.AggregationType] = None,
    class_weights: Optional[Dict[int, float]] = None,
) -> metric_types.MetricComputations:
    key = metric_types.MetricKey(
        name=name, model_name=model_name, output_name=output_name, sub_key=sub_key, example_weighted=example_weighted
    )
    combiner = _Combiner(
        from_logits=from_logits, label_smoothing=label_smoothing, eval_config=eval_config, model_name=model_name,
        output_name=output_name, metric_key=key, example_weighted=example_weighted,
        aggregation_type=aggregation_type, class_weights=class_weights,
    )
    return [metric_types.MetricComputation(keys=[key], preprocessors=None, combiner=combiner)]


class ExactBinaryCrossEntropy(metric_types.Metric):
    """Binary cross-entropy of predicted probabilities, reported as `binary_crossentropy`.

    Use it with `tfma.MetricConfig(class_name="ExactBinaryCrossEntropy", module=__name__)`; it is not
    registered under TFMA's own class name, which TFMA would look up first.
    """

    def __init__(self, name: str = cross_entropy_metrics.BINARY_CROSSENTROPY_NAME, from_logits: bool = False,
                 label_smoothing: float = 0.0):
        super().__init__(
            metric_util.merge_per_key_computations(_computations),
            name=name, from_logits=from_logits, label_smoothing=label_smoothing,
        )
