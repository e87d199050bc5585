"""Bad input through `textrnn run`: one clear line naming the file, the line and the problem, no traceback."""
import pytest
import subprocess

pytestmark = pytest.mark.slow

BAD_LINE = b'{"headline": "labelled two", "is_sarcastic": 2}'


def test_invalid_record_stops_the_run_with_a_clear_message(make_slice, textrnn_bin, tmp_path):
    source = make_slice(40) / "headlines.json"
    lines = source.read_bytes().split(b"\n")
    lines.insert(12, BAD_LINE)
    source.write_bytes(b"\n".join(lines))

    result = subprocess.run(
        [textrnn_bin, "run", "--input-dir", str(source.parent), "--output-root", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 1
    assert f"textrnn: error: invalid record in {source}, line 13: 'is_sarcastic' must be 0 or 1, got 2" in result.stderr
    assert "Traceback" not in result.stderr
    assert "Trainer running" not in result.stderr


def test_a_folder_without_records_stops_the_run_at_example_gen(textrnn_bin, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "headlines.jsonl").write_bytes(b"\n\n")

    result = subprocess.run(
        [textrnn_bin, "run", "--input-dir", str(folder), "--output-root", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 1
    assert f"textrnn: error: no valid headline records in {folder} (headlines.jsonl: 0 records)" in result.stderr
    assert "Traceback" not in result.stderr
    assert "Transform" not in result.stderr


def test_no_data_and_no_mirror_names_both_options(textrnn_bin, tmp_path):
    result = subprocess.run(
        [textrnn_bin, "data", "fetch", "--data-dir", str(tmp_path / "data"), "--url", "http://127.0.0.1:9/none.json"],
        capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert result.returncode == 1
    assert "--mirror" in result.stderr and "TEXTRNN_DATA_MIRROR" in result.stderr
    assert "Traceback" not in result.stderr
