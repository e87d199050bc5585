"""What ties a cached output to the code that made it.

TFX's cache key covers a component's inputs and settings, and the content of a `module_file`, but not code
named by an import path (our preprocessing_fn, our ExampleGen's parser): an upgraded textrnn would reuse
outputs its old code made. A hash of that code, put among the component's settings, makes the cache miss.

    custom_config = {"source": source_fingerprint("textrnn.preprocessing.preprocessing")}
"""
import hashlib
import importlib.util


def source_fingerprint(*modules: str) -> str:
    """A hash of the source files of `modules` (importable names)."""
    digest = hashlib.sha256()
    for module in modules:
        with open(importlib.util.find_spec(module).origin, "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()[:16]
