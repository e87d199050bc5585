"""TF Serving's request decoding, done here as the model server does it, so tests can send real requests.

REST (https://www.tensorflow.org/tfx/serving/api_rest, "Request format" of the Predict API): a JSON body
with an optional "signature_name" (default "serving_default") and either
  * "instances" (row format): a list with one element per example; for a signature with one input each
    element is that input's value, otherwise an object of input name to value; or
  * "inputs" (columnar format): for one input, its value (a batch-first list), otherwise an object of input
    name to value.
Values are JSON numbers, strings (UTF-8 bytes for DT_STRING inputs) or nested lists of them, and any
`{"b64": "..."}` object stands for the base64-decoded bytes. Row format answers {"predictions": ...} (one
element per example: the value of the single output, otherwise an object of output name to value);
columnar format answers {"outputs": ...}.

gRPC: a tensorflow_serving.apis.predict_pb2.PredictRequest whose `inputs` map input names to TensorProtos;
the server turns each into a tensor (here with tf.make_ndarray) and answers a PredictResponse whose
`outputs` are TensorProtos of the signature's outputs.

Requests run against a model loaded by either loader: `SessionBundle` loads a SavedModel as TF Serving's
SavedModelBundle does (a graph-mode session: import the MetaGraph, run the saver's restore op and the init op,
run the SignatureDef's tensors by name); `ObjectModel` loads it with `tf.saved_model.load`, TensorFlow's
object loader, which resolves variables through the object graph and so accepts models TF Serving cannot run.
"""
import base64
import json
from typing import Any, Dict, List, Tuple

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2

# The serving check's own emulation of TF Serving's loader, which the tests use too.
from textrnn.components.serving_probe import SessionBundle

DEFAULT_SIGNATURE = "serving_default"


class RestError(ValueError):
    """A request that TF Serving answers with an error (HTTP 400)."""


class ObjectModel:
    """The same interface over `tf.saved_model.load`."""

    def __init__(self, path: str):
        self.path = path
        self.model = tf.saved_model.load(path)

    def signature_names(self) -> List[str]:
        return sorted(self.model.signatures)

    def input_dtypes(self, signature_name: str) -> Dict[str, tf.DType]:
        specs = self.model.signatures[signature_name].structured_input_signature[1]
        return {name: spec.dtype for name, spec in specs.items()}

    def run(self, signature_name: str, inputs: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        dtypes = self.input_dtypes(signature_name)
        tensors = {name: tf.constant(value, dtype=dtypes[name]) for name, value in inputs.items()}
        return {name: t.numpy() for name, t in self.model.signatures[signature_name](**tensors).items()}


LOADERS = {"session": SessionBundle, "object": ObjectModel}


def _decode_value(value: Any, dtype: tf.DType) -> Any:
    """A JSON value with {"b64": ...} objects replaced by bytes, and strings by UTF-8 bytes for strings."""
    if isinstance(value, dict):
        if set(value) != {"b64"}:
            raise RestError(f"an object inside a value must be {{'b64': ...}}, got keys {sorted(value)}")
        return base64.b64decode(value["b64"], validate=True)
    if isinstance(value, list):
        return [_decode_value(v, dtype) for v in value]
    if isinstance(value, str) and dtype == tf.string:
        return value.encode("utf-8")
    return value


def _is_b64(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"b64"}


def _tensor(value: Any, dtype: tf.DType) -> np.ndarray:
    decoded = _decode_value(value, dtype)
    if dtype == tf.string:
        return np.array(decoded, dtype=object)
    return np.array(decoded, dtype=dtype.as_numpy_dtype)


def decode_rest_request(body: str, model) -> Tuple[str, Dict[str, np.ndarray]]:
    """The signature name and the input tensors of a REST :predict body, as TF Serving derives them."""
    request = json.loads(body)
    signature_name = request.get("signature_name", DEFAULT_SIGNATURE)
    if signature_name not in model.signature_names():
        raise RestError(f"signature {signature_name!r} not found")
    specs = model.input_dtypes(signature_name)
    if ("instances" in request) == ("inputs" in request):
        raise RestError("a request has either 'instances' or 'inputs'")
    if "instances" in request:
        instances = request["instances"]
        if not isinstance(instances, list):
            raise RestError("'instances' must be a list")
        named = instances and all(isinstance(i, dict) and not _is_b64(i) for i in instances)
        if named:
            columns = {name: [instance[name] for instance in instances] for name in specs}
        elif len(specs) == 1:
            columns = {next(iter(specs)): instances}
        else:
            raise RestError("with several inputs each instance must be an object of input name to value")
    else:
        inputs = request["inputs"]
        if isinstance(inputs, dict) and not _is_b64(inputs):
            columns = inputs
        elif len(specs) == 1:
            columns = {next(iter(specs)): inputs}
        else:
            raise RestError("with several inputs 'inputs' must be an object of input name to value")
    if set(columns) != set(specs):
        raise RestError(f"inputs {sorted(columns)} do not match the signature's {sorted(specs)}")
    return signature_name, {name: _tensor(columns[name], specs[name]) for name in specs}


def rest_predict(model, body: str) -> dict:
    """The JSON object TF Serving answers to a REST :predict `body`."""
    signature_name, inputs = decode_rest_request(body, model)
    outputs = {name: value.tolist() for name, value in model.run(signature_name, inputs).items()}
    if "instances" in json.loads(body):
        if len(outputs) == 1:
            return {"predictions": next(iter(outputs.values()))}
        count = len(next(iter(outputs.values())))
        return {"predictions": [{name: values[i] for name, values in outputs.items()} for i in range(count)]}
    return {"outputs": next(iter(outputs.values())) if len(outputs) == 1 else outputs}


def grpc_predict(model, request_bytes: bytes, version: str) -> bytes:
    """The serialized PredictResponse TF Serving answers to a serialized PredictRequest."""
    request = predict_pb2.PredictRequest()
    request.ParseFromString(request_bytes)
    signature_name = request.model_spec.signature_name or DEFAULT_SIGNATURE
    inputs = {name: tf.make_ndarray(request.inputs[name]) for name in model.input_dtypes(signature_name)}
    response = predict_pb2.PredictResponse()
    response.model_spec.name = request.model_spec.name
    response.model_spec.signature_name = signature_name
    response.model_spec.version.value = int(version)
    for name, value in model.run(signature_name, inputs).items():
        response.outputs[name].CopyFrom(tf.make_tensor_proto(value))
    return response.SerializeToString()
