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
"""
import base64
import json
from typing import Any, Dict, Tuple

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2

DEFAULT_SIGNATURE = "serving_default"


class RestError(ValueError):
    """A request that TF Serving answers with an error (HTTP 400)."""


def _input_specs(signature) -> Dict[str, tf.TensorSpec]:
    return dict(signature.structured_input_signature[1])


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


def _tensor(value: Any, spec: tf.TensorSpec) -> tf.Tensor:
    decoded = _decode_value(value, spec.dtype)
    if spec.dtype == tf.string:
        return tf.constant(np.array(decoded, dtype=object), dtype=tf.string)
    return tf.constant(decoded, dtype=spec.dtype)


def decode_rest_request(body: str, model) -> Tuple[str, Dict[str, tf.Tensor]]:
    """The signature name and the input tensors of a REST :predict body, as TF Serving derives them."""
    request = json.loads(body)
    signature_name = request.get("signature_name", DEFAULT_SIGNATURE)
    if signature_name not in model.signatures:
        raise RestError(f"signature {signature_name!r} not found")
    specs = _input_specs(model.signatures[signature_name])
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
    outputs = {name: tensor.numpy().tolist() for name, tensor in model.signatures[signature_name](**inputs).items()}
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
    signature = model.signatures[signature_name]
    specs = _input_specs(signature)
    inputs = {name: tf.constant(tf.make_ndarray(request.inputs[name]), dtype=specs[name].dtype) for name in specs}
    response = predict_pb2.PredictResponse()
    response.model_spec.name = request.model_spec.name
    response.model_spec.signature_name = signature_name
    response.model_spec.version.value = int(version)
    for name, tensor in signature(**inputs).items():
        response.outputs[name].CopyFrom(tf.make_tensor_proto(tensor.numpy()))
    return response.SerializeToString()
