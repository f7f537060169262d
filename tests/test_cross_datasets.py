"""The dataset readers of add.data.datasets: each format's own files read into labelled records (1 = fake), malformed
lines and missing files reported with file, line and what was expected. The files are empty stand-ins: readers
never decode them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from add.core.params import CROSS_FORMATS, ParamsError, parse_params
from add.data.datasets.read import FORMATS, read_dataset
from add.data.datasets.records import DatasetError


def touch(root: Path, *relpaths: str) -> None:
    for rel in relpaths:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"")


def labels(records) -> dict[str, int]:
    return {r.video: r.label for r in records}


def test_celebdf_list_says_1_is_real(tmp_path):
    touch(tmp_path, "Celeb-real/id0_0000.mp4", "YouTube-real/00000.mp4", "Celeb-synthesis/id0_id1_0000.mp4",
          "Celeb-synthesis/id1_id0_0003.mp4")  # not in the test list: training data
    (tmp_path / "List_of_testing_videos.txt").write_text(
        "1 Celeb-real/id0_0000.mp4\n1 YouTube-real/00000.mp4\n0 Celeb-synthesis/id0_id1_0000.mp4\n")
    records, missing = read_dataset("celebdf", tmp_path)
    assert labels(records) == {"Celeb-real/id0_0000.mp4": 0, "YouTube-real/00000.mp4": 0,
                               "Celeb-synthesis/id0_id1_0000.mp4": 1}
    assert missing == 0


@pytest.mark.parametrize("line, expected", [
    ("2 Celeb-real/id0_0000.mp4", "line 2: '2 Celeb-real/id0_0000.mp4': expected \"<label> <folder>/<name>.mp4\""),
    ("Celeb-real/id0_0000.mp4", "line 2: 'Celeb-real/id0_0000.mp4': expected"),
    ("1 ../secret.mp4", "line 2: '1 ../secret.mp4': expected"),
    ("1 Celeb-synthesis/id0_id1_0000.mp4", "label 1 says real but Celeb-synthesis/ holds fake videos"),
])
def test_celebdf_malformed_line_names_file_and_line(tmp_path, line, expected):
    touch(tmp_path, "Celeb-real/id0_0000.mp4")
    path = tmp_path / "List_of_testing_videos.txt"
    path.write_text(f"1 Celeb-real/id0_0000.mp4\n{line}\n")
    with pytest.raises(DatasetError, match=r"List_of_testing_videos\.txt: line 2") as e:
        read_dataset("celebdf", tmp_path)
    assert expected in str(e.value) and str(path) in str(e.value)


def test_missing_videos_listed_then_error_or_skipped_and_counted(tmp_path):
    touch(tmp_path, "Celeb-real/id0_0000.mp4")
    lines = ["1 Celeb-real/id0_0000.mp4"] + [f"0 Celeb-synthesis/id0_id1_{i:04d}.mp4" for i in range(7)]
    (tmp_path / "List_of_testing_videos.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError) as e:
        read_dataset("celebdf", tmp_path)
    message = str(e.value)
    assert "7 of 8 listed file(s) are missing" in message
    assert "Celeb-synthesis/id0_id1_0000.mp4" in message and "Celeb-synthesis/id0_id1_0004.mp4" in message
    assert "id0_id1_0005" not in message and "and 2 more" in message and "missing: skip" in message
    records, missing = read_dataset("celebdf", tmp_path, missing="skip")
    assert labels(records) == {"Celeb-real/id0_0000.mp4": 0} and missing == 7


def test_dfdc_parts_metadata(tmp_path):
    for part, entries in (("dfdc_train_part_0", {"a.mp4": "REAL", "b.mp4": "FAKE"}),
                          ("dfdc_train_part_1", {"c.mp4": "FAKE"})):
        meta = {name: {"label": label, "split": "train", "original": None if label == "REAL" else "a.mp4"}
                for name, label in entries.items()}
        touch(tmp_path, *(f"{part}/{name}" for name in entries))
        (tmp_path / part / "metadata.json").write_text(json.dumps(meta, indent=1))
    records, _ = read_dataset("dfdc", tmp_path)
    assert labels(records) == {"dfdc_train_part_0/a.mp4": 0, "dfdc_train_part_0/b.mp4": 1,
                               "dfdc_train_part_1/c.mp4": 1}
    one_part, _ = read_dataset("dfdc", tmp_path / "dfdc_train_part_1")
    assert labels(one_part) == {"c.mp4": 1}


def test_dfdc_bad_metadata_entry_names_its_line(tmp_path):
    touch(tmp_path, "p/a.mp4")
    (tmp_path / "p" / "metadata.json").write_text('{\n "a.mp4": {"label": "REAL"},\n "b.mp4": {"label": "fake"}\n}')
    with pytest.raises(DatasetError, match=r"metadata\.json: line 3: entry 'b\.mp4': expected .*REAL"):
        read_dataset("dfdc", tmp_path)


def test_dfdc_public_test_labels_1_is_fake(tmp_path):
    touch(tmp_path, "videos/aaa.mp4", "videos/bbb.mp4")
    (tmp_path / "labels.csv").write_text("filename,label\naaa.mp4,0\nbbb.mp4,1\n")
    records, _ = read_dataset("dfdc", tmp_path)
    assert labels(records) == {"aaa.mp4": 0, "bbb.mp4": 1}
    assert records[0].path == tmp_path / "videos" / "aaa.mp4"
    (tmp_path / "labels.csv").write_text("filename,label\naaa.mp4,0\nbbb.mp4,FAKE\n")
    with pytest.raises(DatasetError, match=r"labels\.csv: line 3: 'bbb\.mp4,FAKE': expected <name>\.mp4,<label>"):
        read_dataset("dfdc", tmp_path)


def test_dfdcp_test_set_only(tmp_path):
    touch(tmp_path, "method_A/1/a.mp4", "original_videos/1/b.mp4", "method_A/2/c.mp4")
    (tmp_path / "dataset.json").write_text(json.dumps({
        "method_A/1/a.mp4": {"label": "fake", "set": "test"}, "original_videos/1/b.mp4": {"label": "real",
                                                                                          "set": "test"},
        "method_A/2/c.mp4": {"label": "fake", "set": "train"}}))
    records, _ = read_dataset("dfdcp", tmp_path)
    assert labels(records) == {"method_A/1/a.mp4": 1, "original_videos/1/b.mp4": 0}


def test_dfd_quality_folders(tmp_path):
    touch(tmp_path, "original_sequences/actors/c23/videos/01__walking.mp4",
          "manipulated_sequences/DeepFakeDetection/c23/videos/01_02__walking__ABC.mp4",
          "manipulated_sequences/DeepFakeDetection/c40/videos/01_02__walking__ABC.mp4")
    records, _ = read_dataset("dfd", tmp_path, quality="c23")
    assert sorted(labels(records).values()) == [0, 1]
    with pytest.raises(DatasetError, match="original_sequences/actors/c40/videos: not found"):
        read_dataset("dfd", tmp_path, quality="c40")


def test_folder_walks_real_and_fake(tmp_path):
    touch(tmp_path, "real/a.mp4", "real/sub/b.jpg", "fake/c.MOV", "fake/.hidden.mp4", "fake/notes.txt")
    records, _ = read_dataset("folder", tmp_path)
    assert labels(records) == {"real/a.mp4": 0, "real/sub/b.jpg": 0, "fake/c.MOV": 1}


def test_list_csv_labels_groups_and_errors(tmp_path):
    touch(tmp_path, "imgs/s1_a.png", "imgs/s1_b.png", "imgs/s2.png")
    csv = tmp_path / "list.csv"
    csv.write_text("path,label,group\nimgs/s1_a.png,real,s1\nimgs/s1_b.png,real,s1\nimgs/s2.png,fake,s2\n")
    records, _ = read_dataset("list", csv)
    assert labels(records) == {"imgs/s1_a.png": 0, "imgs/s1_b.png": 0, "imgs/s2.png": 1}
    assert [r.group for r in records] == ["s1", "s1", "s2"]
    csv.write_text("path,label\nimgs/s1_a.png,real\nimgs/s2.png,maybe\n")
    with pytest.raises(DatasetError, match=r"list\.csv: line 3: label 'maybe': expected <path>,<real\|fake>"):
        read_dataset("list", csv)
    csv.write_text("path,label\n../outside.png,fake\n")
    with pytest.raises(DatasetError, match=r"line 2: path '\.\./outside\.png' leaves the CSV's folder"):
        read_dataset("list", csv)
    csv.write_text("path,label\nimgs/s2.png,fake,extra\n")
    with pytest.raises(DatasetError, match=r"line 2: .*3 column\(s\)"):
        read_dataset("list", csv)
    csv.write_text("file,label\n")
    with pytest.raises(DatasetError, match=r"line 1: expected the header path,label"):
        read_dataset("list", csv)


def test_cross_entries_in_params_defaults_and_errors():
    entry, = parse_params({"cross": [{"name": "celebdf", "format": "celebdf", "root": "/d",
                                      "compress": ["as_is", "c40"]}]}).cross
    assert (entry.name, entry.format, entry.root, entry.compress, entry.frames_per_video, entry.faces,
            entry.missing, entry.dfd_quality) == ("celebdf", "celebdf", "/d", ("as_is", "c40"), 32, "largest", "error",
                                                  "c23")
    assert parse_params({}).cross == ()  # FF++ users: nothing
    for spelled in (16, "16", "1.6e1", 16.0):  # the one number rule of add.core.params
        entry, = parse_params({"cross": [{"name": "a", "format": "list", "root": "x",
                                          "frames_per_video": spelled}]}).cross
        assert entry.frames_per_video == 16
    assert CROSS_FORMATS == FORMATS  # every format params accepts has a reader
    for bad, match in (({"name": "a b", "format": "celebdf", "root": "/d"}, r"entry 'a b': name must be letters"),
                       ({"name": "a", "format": "ff", "root": "/d"}, r"cross\[0\]\.format' must be one of"),
                       ({"name": "a", "format": "dfd", "root": "/d", "compress": ["c23"]}, r"cross\[0\]\.compress"),
                       ({"name": "a", "format": "dfd", "root": "/d", "faces": "first"}, r"cross\[0\]\.faces"),
                       ({"name": "a", "format": "list", "root": "/d", "missing": "ignore"}, r"cross\[0\]\.missing"),
                       ({"name": "a", "format": "list", "root": "/d", "quality": "c23"}, r"only applies to format dfd"),
                       ({"name": "a", "format": "list", "root": "/d", "frames": 8}, r"\.frames' is not a known"),
                       ({"name": "a", "format": "list"}, r"entry 'a': an entry needs root")):
        with pytest.raises(ParamsError, match=match):
            parse_params({"cross": [bad]})
    with pytest.raises(ParamsError, match="used twice"):
        parse_params({"cross": [{"name": "a", "format": "list", "root": "x"},
                                {"name": "a", "format": "folder", "root": "y"}]})


def test_the_readme_examples_are_valid_params():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Cross-dataset evaluation", 1)[1]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    entries = parse_params(yaml.safe_load(block)).cross
    assert sorted(e.format for e in entries) == sorted(FORMATS)  # one example per format
