"""The command of every task on Kubeflow: TFX's Kubeflow v2 executor launcher, with Kubeflow's own `system.`
artifact types that textrnn outputs importable by their names.

    python -m textrnn.kubeflow.container_entrypoint --executor_class_path ... --json_serialized_invocation_args ...

TFX's launcher imports each artifact's class by its type's name, `<module>.<Class>`. The run report's type is
Kubeflow Pipelines' `system.HTML` (the type its UI shows on the run's page), so a module `system` must import
in the container: it is registered here, in the launcher's process, rather than installed as a second
top-level package beside `textrnn`.

Example:

>>> from textrnn.kubeflow.container_entrypoint import register_system_types
>>> import importlib
>>> register_system_types()
>>> importlib.import_module("system").HTML.TYPE_NAME
'system.HTML'
"""
import sys
import types


def register_system_types() -> None:
    """Makes `system.<Class>` import for each textrnn artifact type named in Kubeflow's `system` namespace."""
    from textrnn.components.run_report import HTML

    module = sys.modules.get("system") or types.ModuleType("system", "Kubeflow Pipelines' system artifact types")
    for cls in (HTML,):
        assert cls.TYPE_NAME == f"system.{cls.__name__}", cls.TYPE_NAME
        setattr(module, cls.__name__, cls)
    sys.modules["system"] = module


def main() -> None:
    from absl import app
    from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_run_executor

    register_system_types()
    app.run(kubeflow_v2_run_executor.main, flags_parser=kubeflow_v2_run_executor._parse_flags)  # noqa: SLF001


if __name__ == "__main__":
    main()
