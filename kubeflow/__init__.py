"""The textrnn pipeline on Kubeflow Pipelines v2: settings, the compiling runner, and a local launcher."""
