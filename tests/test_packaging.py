"""textrnn as users install it: one import name, a wheel that works outside the checkout beside packages that
share folder names with ours, the Keras conventions, the set-up script's choice of Debian mirror, and the
`textrnn` command's quiet start."""
import doctest
import importlib
import os
import pathlib
import shutil
import subprocess
import sys
import sysconfig
import zipfile

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> pathlib.Path:
    """The wheel `pip wheel` builds from the checkout (no dependencies, no network)."""
    folder = tmp_path_factory.mktemp("wheel")
    build = shutil.copytree(REPO, folder / "src", ignore=shutil.ignore_patterns(".git", "textrnn_output", "*.egg-info",
                                                                               "build", "__pycache__"))
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w",
                             str(folder), str(build)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    (path,) = folder.glob("textrnn-*.whl")
    return path


@pytest.mark.slow
def test_the_wheel_installs_one_top_level_name(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top_level == {"textrnn"}
    for package in ("pipeline", "components", "preprocessing", "models", "kubeflow"):
        assert f"textrnn/{package}/__init__.py" in names
    assert "textrnn/cli.py" in names and "textrnn/models/train.py" in names
    assert "textrnn/pipeline/no_requirements.txt" in names and "textrnn/pipeline/schema/schema.pbtxt" in names


@pytest.fixture(scope="module")
def wheel_venv(wheel, tmp_path_factory) -> pathlib.Path:
    """A fresh virtualenv layered on this environment (its packages through a .pth file, textrnn's editable
    install left out) with only the wheel installed into it."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    purelib = pathlib.Path(subprocess.check_output(
        [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        text=True).strip())
    (purelib / "textrnn-env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    result = subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
                             "--no-deps", "--no-index", "--target", str(purelib), str(wheel)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return venv


def _in_venv(venv, code, cwd, timeout=300, env=None):
    # The environment's own textrnn (an editable install of this checkout) is hidden: the wheel must serve.
    environment = dict(os.environ, **(env or {}), PYTHONNOUSERSITE="1")
    environment.pop("PYTHONPATH", None)
    return subprocess.run([str(venv / "bin" / "python"), "-c", code], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=environment)


HIDE_EDITABLE = "import sys; sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in repr(f)]; "


@pytest.mark.slow
def test_the_wheel_runs_the_pipeline_outside_the_checkout_beside_look_alike_folders(wheel_venv, make_slice, tmp_path):
    workdir = tmp_path / "work"
    for folder in ("models", "pipeline", "components", "kubeflow"):  # a user's own folders of the same names
        (workdir / folder).mkdir(parents=True)
        (workdir / folder / "__init__.py").write_text("raise ImportError('the user\\'s folder was imported')\n")
    code = HIDE_EDITABLE + (
        "import textrnn, textrnn.cli as cli; "
        "assert textrnn.__file__.startswith(%r), textrnn.__file__; "
        "sys.exit(cli.main(['run', '--input-dir', %r, '--output-root', 'out', '--epochs', '1', '--vocab-size', '500', "
        "'--embedding-dim', '8', '--lstm-units', '8', '--eval-loss-bound', '10']))"
    ) % (str(wheel_venv), str(make_slice(400)))
    result = _in_venv(wheel_venv, code, cwd=workdir, timeout=900)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert "blessed: yes" in result.stdout
    versions = os.listdir(workdir / "out" / "serving_model" / "textrnn")
    assert len(versions) == 1 and versions[0].isdigit()


@pytest.mark.slow
def test_kubeflow_sdks_and_textrnn_import_side_by_side(wheel_venv, tmp_path):
    code = HIDE_EDITABLE + (
        "import kubeflow.training, textrnn.kubeflow.cluster, textrnn.kubeflow.kubeflow_v2_runner; "
        "print(kubeflow.training.__name__, textrnn.kubeflow.cluster.__name__)")
    result = _in_venv(wheel_venv, code, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["kubeflow.training", "textrnn.kubeflow.cluster"]


# --- Keras conventions -------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_import_textrnn_is_enough_to_load_a_saved_model_and_does_not_load_tensorflow(tmp_path):
    from textrnn import BiLSTMClassifier

    model = BiLSTMClassifier.from_preset("book-bilstm", vocab_size=50, embedding_dim=4, lstm_units=(4,))
    model.save(tmp_path / "model.keras")
    code = (
        "import sys, textrnn; assert 'tensorflow' not in sys.modules; "
        "import keras; model = keras.saving.load_model(%r); print(type(model).__name__, model.lstm_units)"
    ) % str(tmp_path / "model.keras")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["BiLSTMClassifier", "[4]"]


def test_from_preset_builds_the_presets_model_and_names_the_presets_it_knows():
    from textrnn import PRESETS, BiLSTMClassifier

    assert BiLSTMClassifier.from_preset("book-bilstm").count_params() == 1_349_169
    with pytest.raises(ValueError, match="unknown preset 'book-cnn'; known presets: default, book-bilstm"):
        BiLSTMClassifier.from_preset("book-cnn")
    assert list(PRESETS)[:2] == ["default", "book-bilstm"]


def test_summary_shows_the_shapes_of_any_batch():
    from textrnn import BiLSTMClassifier

    lines = []
    BiLSTMClassifier.from_preset("default", vocab_size=100).summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "(None, 40, 256)" in text and "(None, 1)" in text


def _package_modules():
    """Every module of the package, by import name, with its source file."""
    folders = {"textrnn": REPO / "textrnn", **{f"textrnn.{name}": REPO / name
                                              for name in ("pipeline", "components", "preprocessing", "models", "kubeflow")}}
    return {(package if path.stem == "__init__" else f"{package}.{path.stem}"): path
            for package, folder in folders.items() for path in sorted(folder.glob("*.py"))}


def _has_examples(path: pathlib.Path) -> bool:
    return ">>> " in path.read_text()


# Found, not listed: every module whose docstrings hold an example runs it.
DOCTEST_MODULES = sorted(name for name, path in _package_modules().items() if _has_examples(path))


def test_the_public_modules_have_docstring_examples():
    for name in ("textrnn", "textrnn.contract", "textrnn.models.config", "textrnn.models.presets",
                 "textrnn.models.model", "textrnn.pipeline.options", "textrnn.pipeline.pipeline",
                 "textrnn.kubeflow.cluster", "textrnn.output_layout"):
        assert name in DOCTEST_MODULES, name


@pytest.mark.parametrize("name", DOCTEST_MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0, result


def test_no_module_rewrites_sys_path():
    sources = [p for folder in ("textrnn", "pipeline", "components", "preprocessing", "models", "kubeflow")
               for p in (REPO / folder).rglob("*.py")]
    assert sources and not [p for p in sources if "sys.path" in p.read_text()]


# --- the set-up script's Debian mirror ---------------------------------------------------------------------------

SOURCES = {
    "debian-deb822": ("ID=debian\n", "etc/apt/sources.list.d/debian.sources",
                      "Types: deb\nURIs: http://mirror.example.org/debian\nSuites: bookworm\nComponents: main\n\n"
                      "Types: deb\nURIs: http://security.debian.org/debian-security\nSuites: bookworm-security\n"),
    "debian-list": ("ID=debian\n", "etc/apt/sources.list",
                    "deb http://security.debian.org/debian-security bookworm-security main\n"
                    "deb [arch=amd64] http://ftp.example.org/debian bookworm main\n"),
    "ubuntu-22.04": ('ID=ubuntu\nID_LIKE=debian\n', "etc/apt/sources.list",
                     "deb http://archive.ubuntu.com/ubuntu/ jammy main restricted\n"
                     "deb http://security.ubuntu.com/ubuntu jammy-security main\n"),
    "debian-without-sources": ("ID=debian\n", "etc/apt/sources.list", "# nothing\n"),
}


@pytest.mark.parametrize("host, expected", [
    ("debian-deb822", "http://mirror.example.org/debian"),
    ("debian-list", "http://ftp.example.org/debian"),
    ("ubuntu-22.04", "http://deb.debian.org/debian"),
    ("debian-without-sources", "http://deb.debian.org/debian"),
])
def test_the_userland_uses_a_host_mirror_only_on_debian(host, expected, tmp_path):
    os_release, sources_path, sources = SOURCES[host]
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "os-release").write_text(os_release)
    (tmp_path / sources_path).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / sources_path).write_text(sources)
    result = subprocess.run(["bash", "-c", f"source {REPO / 'scripts' / 'env.sh'} && debian_mirror"],
                            env=dict(os.environ, HOST_ROOT=str(tmp_path)), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


# --- the command's output ----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_command_hides_tensorflows_startup_lines_unless_verbose(textrnn_bin, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    command = [textrnn_bin, "glove-coverage", "--glove", "missing.txt", "--input", str(tmp_path)]
    (tmp_path / "h.json").write_text('{"headline": "a b", "is_sarcastic": 0}\n')
    quiet = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    verbose = subprocess.run(command + ["--verbose"], capture_output=True, text=True, timeout=300, env=env)
    assert quiet.returncode == 1 and "GloVe file not found" in quiet.stderr
    assert "distinct words" in quiet.stderr  # counted by the Transform's tokenizer: TensorFlow was loaded
    assert "cudart_stub" not in quiet.stderr and "absl::InitializeLog" not in quiet.stderr
    assert "GloveError" in verbose.stderr and "Traceback" in verbose.stderr
    assert "cudart_stub" in verbose.stderr or "cpu_feature_guard" in verbose.stderr


def _first_party_imports(path: pathlib.Path) -> set:
    """The textrnn modules a source file imports (at any depth, lazily or not)."""
    import ast

    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("textrnn."):
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names if alias.name.startswith("textrnn."))
    return modules


# The floors of the package, top first: a module may import its own floor's modules and those of floors below.
LAYERS = (
    ("command line", {"textrnn.cli"}),
    ("kubeflow", {"textrnn.kubeflow"}),
    ("pipeline", {"textrnn.pipeline"}),
    ("components", {"textrnn.components"}),
    ("models", {"textrnn.models"}),
    ("preprocessing", {"textrnn.preprocessing"}),
    ("contract, errors and the output layout", {"textrnn.contract", "textrnn.errors", "textrnn.output_layout",
                                                 "textrnn.code_version"}),
)


def _layer(module: str) -> int:
    for index, (_, prefixes) in enumerate(LAYERS):
        if any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes):
            return index
    raise AssertionError(f"{module} is on no floor of LAYERS")


def _import_graph():
    modules = _package_modules()
    graph = {name: {m for m in _first_party_imports(path) if m in modules} - {name}
             for name, path in modules.items() if name != "textrnn"}  # textrnn/__init__ names everything lazily
    return graph


def test_imports_run_only_downward():
    """command line → kubeflow → pipeline → components → models → preprocessing → contract and errors."""
    upward = [(name, imported) for name, imports in _import_graph().items() for imported in imports
              if imported != "textrnn" and _layer(imported) < _layer(name)]
    assert not upward, "imports against the order of LAYERS: " + ", ".join(f"{a} -> {b}" for a, b in upward)


def test_the_layer_order_catches_an_upward_import(tmp_path):
    """The check above fails on what it should: a components module importing the pipeline."""
    source = tmp_path / "bad.py"
    source.write_text("def f():\n    from textrnn.pipeline import options\n")
    imported = _first_party_imports(source)
    assert "textrnn.pipeline.options" in imported
    assert _layer("textrnn.pipeline.options") < _layer("textrnn.components.bad")


def test_modules_import_no_cycle_and_no_private_names():
    import ast

    graph = _import_graph()
    for name, path in _package_modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("textrnn."):
                assert not [a.name for a in node.names if a.name.startswith("_")], (name, node.module)

    def cycle_from(start, node, seen):
        for nxt in graph.get(node, ()):
            if nxt == start:
                return [node, nxt]
            if nxt not in seen:
                seen.add(nxt)
                path = cycle_from(start, nxt, seen)
                if path:
                    return [node, *path]
        return None

    cycles = [cycle_from(name, name, set()) for name in graph]
    assert not [c for c in cycles if c], [c for c in cycles if c][:3]


def test_every_module_name_is_unique_in_the_package():
    stems = {}
    for name, path in _package_modules().items():
        if path.stem != "__init__":
            stems.setdefault(path.stem, []).append(name)
    assert not {stem: names for stem, names in stems.items() if len(names) > 1}


@pytest.mark.parametrize("name", ["GloveCoverageReport", "EmbeddingMatrix"])
def test_custom_artifact_type_names_are_importable_textrnn_names(name):
    import textrnn

    artifact = getattr(textrnn, name)
    module, _, cls = artifact.TYPE_NAME.rpartition(".")
    assert (module, cls) == ("textrnn", name)
    assert getattr(importlib.import_module(module), cls) is artifact


def test_the_log_filter_drops_startup_lines_of_the_process_and_its_children(capfd, monkeypatch):
    """Beam's worker processes inherit file descriptor 2 and the log level, so the filter covers them too."""
    from textrnn.pipeline.tf_log_filter import TensorflowLogFilter

    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    child = ("import os; os.write(2, b'WARNING: All log messages before absl::InitializeLog() is called are written "
             "to STDERR\\nI0000 00:00:1796011912.689741   15483 cudart_stub.cc:31] Could not find cuda drivers\\n"
             "E0000 00:00:1796011916.404397   15483 real_error.cc:52] a real error\\n'); "
             "print(os.environ['TF_CPP_MIN_LOG_LEVEL'], flush=True)")
    with TensorflowLogFilter():
        os.write(2, b"W0000 00:00:1796011912.7 15483 cpu_feature_guard.cc:227] oneDNN custom operations are on\n")
        os.write(2, b"kept from the parent\n")
        subprocess.run([sys.executable, "-c", child], check=True)
    captured = capfd.readouterr()
    assert "TF_CPP_MIN_LOG_LEVEL" not in os.environ  # set for the filter's lifetime only
    assert captured.out == "3\n"
    assert captured.err == ("kept from the parent\n"
                            "E0000 00:00:1796011916.404397   15483 real_error.cc:52] a real error\n")


def test_run_reads_the_input_folder_from_the_environment(tmp_path):
    code = ("from textrnn import cli; args = cli.parser().parse_args(['run']); "
            "print(cli.options_from(args, cli.run_flag_settings()).input_dir)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env=dict(os.environ, TEXTRNN_INPUT_DIR=str(tmp_path)))
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == str(tmp_path)
