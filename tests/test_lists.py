"""``add lists``: a labelled dataset as a data.list CSV that add.data.list_source reads, split by group (no tied videos
in two splits), deterministic for a seed, keeping the format's own test set and naming the fakes' originals. The
videos are empty stand-ins: nothing is decoded."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest

from add import cli
from add.data.datasets.records import DatasetError
from add.data.list_source import read_list
from add.tools.lists import write_list


def touch(root: Path, *relpaths: str) -> None:
    for rel in relpaths:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"")


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def celebdf(root: Path) -> None:
    """12 identities, each with 2 real clips and 2 fakes on its footage (another identity's face)."""
    for a in range(12):
        for clip in range(2):
            touch(root, f"Celeb-real/id{a}_{clip:04d}.mp4", f"Celeb-synthesis/id{a}_id{(a + 1) % 12}_{clip:04d}.mp4")
    touch(root, *(f"YouTube-real/{n:05d}.mp4" for n in range(6)))
    (root / "List_of_testing_videos.txt").write_text(
        "1 Celeb-real/id0_0000.mp4\n1 YouTube-real/00000.mp4\n0 Celeb-synthesis/id0_id1_0000.mp4\n"
        "0 Celeb-synthesis/id5_id6_0001.mp4\n")


def dfdc(root: Path) -> None:
    for part in range(2):
        meta = {}
        for n in range(8):
            real = f"r{part}{n}.mp4"
            meta[real] = {"label": "REAL", "split": "train"}
            for k in range(2):
                meta[f"f{part}{n}{k}.mp4"] = {"label": "FAKE", "split": "train", "original": real}
        folder = root / f"dfdc_train_part_{part}"
        touch(folder, *meta)
        (folder / "metadata.json").write_text(json.dumps(meta))


def folder(root: Path) -> None:
    touch(root, *(f"real/{n}.mp4" for n in range(10)), *(f"fake/x/{n}.avi" for n in range(10)), "fake/still.jpg")


def identity(row: dict[str, str]) -> str:
    """The tie an assertion checks: a Celeb-DF path's footage identity, else the video's own original or path."""
    name = Path(row["path"]).name
    if "Celeb-" in row["path"]:
        return name.split("_")[0]
    return row["original"] or row["path"]


@pytest.mark.parametrize("make,format", [(celebdf, "celebdf"), (dfdc, "dfdc"), (folder, "folder")])
def test_list_reads_back_and_no_tie_straddles_splits(tmp_path, make, format):
    make(tmp_path / "set")
    out = tmp_path / "set" / "list.csv"
    summary = write_list(format, tmp_path / "set", out, seed=0)
    entries = read_list(out)  # add.data.list_source accepts it: groups and originals in one split, files there
    assert len(entries) == summary["videos"] == len(rows(out))
    assert not any(Path(r["path"]).is_absolute() for r in rows(out))  # the set lies under the CSV's folder
    split_of: dict[str, set[str]] = {}
    for row in rows(out):
        split_of.setdefault(row["group"], set()).add(row["split"])
        if not (format == "celebdf" and row["split"] == "test"):  # the official test list shares identities
            split_of.setdefault("tie:" + identity(row), set()).add(row["split"])
    assert all(len(s) == 1 for s in split_of.values()), split_of
    assert {r["split"] for r in rows(out)} == {"train", "val", "test"}


def test_splits_are_deterministic_for_a_seed_and_differ_for_another(tmp_path):
    dfdc(tmp_path / "set")
    a, b, c = (tmp_path / "lists" / n for n in ("a.csv", "b.csv", "c.csv"))
    write_list("dfdc", tmp_path / "set", a, seed=0)
    write_list("dfdc", tmp_path / "set", b, seed=0)
    write_list("dfdc", tmp_path / "set", c, seed=1)
    assert a.read_bytes() == b.read_bytes()
    assert [r["split"] for r in rows(a)] != [r["split"] for r in rows(c)]
    assert Path(rows(a)[0]["path"]).is_absolute()  # the set is not under the CSV's folder


def test_celebdf_test_list_is_test_and_the_rest_is_train_or_val(tmp_path):
    celebdf(tmp_path)
    out = tmp_path / "list.csv"
    write_list("celebdf", tmp_path, out, seed=3)
    listed = {line.split()[1] for line in (tmp_path / "List_of_testing_videos.txt").read_text().splitlines()}
    split = {r["path"]: r["split"] for r in rows(out)}
    assert len(split) == 12 * 4 + 6
    assert {p for p, s in split.items() if s == "test"} == listed
    assert {s for p, s in split.items() if p not in listed} == {"train", "val"}
    # identities tie only outside the official test list: each footage identity of train/val is in one split
    open_split: dict[str, set[str]] = {}
    for row in rows(out):
        if row["split"] != "test" and "Celeb-" in row["path"]:
            open_split.setdefault(identity(row), set()).add(row["split"])
    assert all(len(s) == 1 for s in open_split.values()), open_split
    original = {r["path"]: r["original"] for r in rows(out)}
    assert original["Celeb-synthesis/id3_id4_0001.mp4"] == "Celeb-real/id3_0001.mp4"
    # the test fake id5_id6_0001's original is not in the test list: no original across splits
    assert original["Celeb-synthesis/id5_id6_0001.mp4"] == ""
    assert original["Celeb-synthesis/id0_id1_0000.mp4"] == "Celeb-real/id0_0000.mp4"


def test_dfdc_fakes_carry_their_original(tmp_path):
    dfdc(tmp_path)
    out = tmp_path / "list.csv"
    write_list("dfdc", tmp_path, out)
    by_path = {r["path"]: r for r in rows(out)}
    fake = by_path["dfdc_train_part_1/f131.mp4"]
    assert fake["original"] == "dfdc_train_part_1/r13.mp4"
    assert fake["split"] == by_path["dfdc_train_part_1/r13.mp4"]["split"]
    assert all(r["original"] for r in rows(out) if r["label"] == "fake")
    entries = read_list(out)
    fakes = [e for e in entries if e.label == 1]
    assert all(e.original is not None for e in fakes)  # listing pairs each fake with its real: box reuse


def test_missing_file_is_an_error_or_skipped(tmp_path):
    folder(tmp_path / "set")
    (tmp_path / "set" / "real" / "3.mp4").unlink()
    (tmp_path / "set" / "list.csv").write_text("path,label,group\nreal/3.mp4,real,a\nfake/x/1.avi,fake,b\n")
    with pytest.raises(DatasetError, match="1 of 2 listed file"):
        write_list("list", tmp_path / "set" / "list.csv", tmp_path / "out.csv")
    summary = write_list("list", tmp_path / "set" / "list.csv", tmp_path / "out.csv", missing="skip")
    assert summary["missing"] == 1
    assert [r["path"] for r in rows(tmp_path / "out.csv")] == ["set/fake/x/1.avi"]


def test_missing_dfdc_files_name_the_folder_their_names_are_under_and_the_callers_option(tmp_path, capsys):
    from add.data.datasets.read import read_dataset

    dfdc(tmp_path / "set")
    (tmp_path / "set" / "dfdc_train_part_1" / "r13.mp4").unlink()
    code = cli.main(["lists", "--format", "dfdc", "--root", str(tmp_path / "set"), "--out", str(tmp_path / "l.csv")])
    err = capsys.readouterr().err
    assert code == 1 and "missing: dfdc_train_part_1/r13.mp4 (under " + str(tmp_path / "set") + ");" in err, err
    assert "--missing skip" in err and "cross entry" not in err
    assert not (tmp_path / "l.csv").exists()
    with pytest.raises(DatasetError, match=r"r13\.mp4 \(under .*set\); restore them, or set missing: skip in this "
                       r"cross entry"):
        read_dataset("dfdc", tmp_path / "set")


def test_cli_writes_the_list_and_says_what_it_did(tmp_path, capsys):
    folder(tmp_path)
    out = tmp_path / "data" / "mine.csv"
    assert cli.main(["lists", "--format", "folder", "--root", str(tmp_path), "--out", str(out), "--seed", "2"]) == 0
    said = capsys.readouterr().out
    assert "20 videos in 20 groups" in said and "1 image(s) left out" in said
    assert len(read_list(out)) == 20
    with pytest.raises(SystemExit) as stop:
        cli.main(["lists", "--format", "folder", "--root", str(tmp_path), "--out", str(out), "--val", "0.6",
                  "--test", "0.5"])
    assert stop.value.code == 2


@pytest.mark.parametrize("where", ["existing folder", "under a file", "read-only folder"])
def test_an_unwritable_out_is_one_line_and_exit_2_before_the_dataset_is_read(tmp_path, capsys, where):
    folder(tmp_path / "set")
    out = {"existing folder": tmp_path / "set" / "real", "under a file": tmp_path / "set" / "real" / "0.mp4" / "l.csv",
           "read-only folder": tmp_path / "ro" / "l.csv"}[where]
    if where == "read-only folder":
        if os.geteuid() == 0:
            pytest.skip("root writes in a read-only folder")
        out.parent.mkdir()
        out.parent.chmod(0o555)
    code = cli.main(["lists", "--format", "folder", "--root", str(tmp_path / "set"), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith(f"add lists: error: --out {out}: "), err
    assert "Traceback" not in err and (tmp_path / "set" / "real").is_dir()


def test_dfdcp_keeps_its_set_and_dfd_fakes_name_their_actor_footage(tmp_path):
    entries = {f"original_videos/{n}/{n}_A.mp4": {"label": "real", "set": "test" if n < 2 else "train"}
               for n in range(8)}
    touch(tmp_path / "p", *entries)
    (tmp_path / "p" / "dataset.json").write_text(json.dumps(entries))
    write_list("dfdcp", tmp_path / "p", tmp_path / "p" / "list.csv", val=0.3)
    split = {r["path"]: r["split"] for r in rows(tmp_path / "p" / "list.csv")}
    assert {p for p, s in split.items() if s == "test"} == {f"original_videos/{n}/{n}_A.mp4" for n in range(2)}
    assert {s for p, s in split.items() if s != "test"} == {"train", "val"}

    reals = [f"original_sequences/actors/c23/videos/{a:02d}__{scene}.mp4" for a in range(1, 9)
             for scene in ("hug", "walk")]
    fakes = [f"manipulated_sequences/DeepFakeDetection/c23/videos/{a:02d}_{a % 8 + 1:02d}__{scene}__X1Y2Z3.mp4"
             for a in range(1, 9) for scene in ("hug", "walk")]
    touch(tmp_path / "d", *reals, *fakes)
    write_list("dfd", tmp_path / "d", tmp_path / "d" / "list.csv")
    by_path = {r["path"]: r for r in rows(tmp_path / "d" / "list.csv")}
    fake = by_path["manipulated_sequences/DeepFakeDetection/c23/videos/03_04__walk__X1Y2Z3.mp4"]
    assert fake["original"] == "original_sequences/actors/c23/videos/03__walk.mp4"
    actor_split: dict[str, set[str]] = {}
    for path, row in by_path.items():
        actor_split.setdefault(Path(path).name[:2], set()).add(row["split"])
    assert all(len(s) == 1 for s in actor_split.values()) and len(read_list(tmp_path / "d" / "list.csv")) == 32
