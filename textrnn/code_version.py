"""What ties a cached output to the code that made it.

TFX's cache key covers a component's inputs and settings, and the content of a `module_file`, but not code
named by an import path (our preprocessing_fn, our ExampleGen's parser): an upgraded textrnn would reuse
outputs its old code made. A hash of that code, put among the component's settings, makes the cache miss.

    custom_config = {"source": source_fingerprint("textrnn.preprocessing.preprocessing")}

`code_version()` names the whole installed code the same way, for the run report's header.
"""
import glob
import hashlib
import importlib.metadata
import importlib.util
import os

from textrnn.contract import SUBPACKAGES


def source_fingerprint(*modules: str) -> str:
    """A hash of the source files of `modules` (importable names)."""
    digest = hashlib.sha256()
    for module in modules:
        with open(importlib.util.find_spec(module).origin, "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()[:16]


def code_version() -> str:
    """textrnn's version and a hash of all its installed source (the same hash means the same code).

    Example:

    >>> from textrnn.code_version import code_version
    >>> code_version().startswith("textrnn ")
    True
    """
    modules = []
    for package in ("textrnn", *(f"textrnn.{name}" for name in SUBPACKAGES)):
        folder = importlib.util.find_spec(package).submodule_search_locations[0]  # found, not imported
        paths = sorted(glob.glob(os.path.join(folder, "*.py")))
        modules += [f"{package}.{os.path.basename(path)[:-3]}" for path in paths]
    try:
        version = importlib.metadata.version("textrnn")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout that is not installed
        version = "(not installed)"
    return f"textrnn {version}, source {source_fingerprint(*modules)[:12]}"
