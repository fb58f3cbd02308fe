"""Every adapter's parse and decode errors name the file (and the line or record where known);
images that do not decode are dropped and counted, as clips are."""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from bench_helpers import FIXTURES, build_one
from full_disk import FullDisk
from emollm_plugin.bench.adapters import get_adapter
from emollm_plugin.bench.adapters.base import DropCounter, SourceFormatError
from emollm_plugin.bench.cli import main as bench_main


def copy_of(name: str, tmp_path: Path) -> Path:
    root = tmp_path / name
    shutil.copytree(FIXTURES / name, root)
    return root


def read_all(name: str, root: Path, **options) -> DropCounter:
    drops = DropCounter()
    list(get_adapter(name)(**options).usable_samples(root, drops, check_media=False))
    return drops


def not_utf8(path: Path, line: int) -> None:
    """Put a Latin-1 byte (0xe9) at the start of ``line`` (1-based) of a text file."""
    lines = path.read_bytes().split(b"\n")
    lines[line - 1] = b"\xe9" + lines[line - 1]
    path.write_bytes(b"\n".join(lines))


def put_before(path: Path, marker: bytes, value: bytes) -> None:
    """Insert ``"x": value, `` before the second occurrence of ``marker`` (inside a record)."""
    data = path.read_bytes()
    at = data.index(marker, data.index(marker) + 1)
    path.write_bytes(data[:at] + b'"x": ' + value + b", " + data[at:])


DEEP = b"[" * 100_000 + b"]" * 100_000
HUGE = b"7" * 5000


def cut_at(path: Path, marker: bytes) -> None:
    """Truncate the file just after the first occurrence of ``marker``."""
    data = path.read_bytes()
    path.write_bytes(data[:data.index(marker) + len(marker)])


# (adapter, file relative to its root, how to break it, message after "<file>: ", options)
CASES = [
    ("emotic", "emotic_pre/train.csv", lambda p: not_utf8(p, 3), r"not UTF-8 at line 3 ",
     {"layout": "csv"}),
    ("emotic", "emotic_pre/train.csv", lambda p: cut_at(p, b"\"['Happiness', "),
     r"line 2: malformed CSV \(unexpected end of data; a quoted field is never closed",
     {"layout": "csv"}),
    ("emotic", "Annotations/Annotations.mat",
     lambda p: p.write_bytes(p.read_bytes()[:len(p.read_bytes()) // 2]),
     r"not a readable MATLAB file", {"layout": "mat"}),
    ("meld", "train_sent_emo.csv", lambda p: not_utf8(p, 3), r"not UTF-8 at line 3 ", {}),
    ("meld", "train_sent_emo.csv", lambda p: cut_at(p, b'1,"Okay, so the plan'),
     r"line 2: malformed CSV \(unexpected end of data", {}),
    ("emotion6", "ground_truth.txt", lambda p: not_utf8(p, 4), r"not UTF-8 at line 4 ", {}),
    ("emotion6", "ground_truth.txt", lambda p: cut_at(p, b"anger/2.jpg\t4"),
     r"line 3: expected 10 tab-separated columns, got 2", {}),
    ("mintrec", "dev.tsv", lambda p: not_utf8(p, 2), r"not UTF-8 at line 2 ", {}),
    ("mintrec", "train.tsv", lambda p: cut_at(p, b"S04\tE01\t12\ti am so"),
     r"line 2: 4 tab-separated fields, expected 5", {}),
    ("urfunny", "language_sdk.pkl",
     lambda p: p.write_bytes(p.read_bytes()[:len(p.read_bytes()) // 2]),
     r"not a readable UR-FUNNY pickle", {}),
    ("urfunny", "language_sdk.pkl",
     lambda p: p.write_bytes(p.read_bytes().replace(b"thank you all", b"\xffhank you all")),
     r"strings decode neither as ASCII nor latin-1", {}),
    ("mmhs150k", "MMHS150K_GT.json", lambda p: cut_at(p, b'"1063020048816660480": {"img_url'),
     r"invalid JSON after entry '1114679353714016256' \(.*\); is the file truncated", {}),
    ("mmhs150k", "MMHS150K_GT.json",
     lambda p: p.write_bytes(p.read_bytes().replace(b"@user good morning", b"@user g\xe9od morning")),
     r"not UTF-8 \(invalid continuation byte\) before the first entry", {}),
    ("mmhs150k", "splits/train_ids.txt", lambda p: not_utf8(p, 2), r"not UTF-8 at line 2 ", {}),
    ("mmhs150k", "img_txt/1023940829757263873.json", lambda p: cut_at(p, b'"TEXT'),
     r"line 1 column 14: invalid JSON \(Unterminated string", {}),
    ("mmsd2", "data/text_json_final/train.json", lambda p: cut_at(p, b'"text": "lovely'),
     r"line 9 column 17: invalid JSON \(Unterminated string", {}),
    ("mmsd2", "data/text_json_final/valid.json", lambda p: not_utf8(p, 2),
     r"not UTF-8 at line 2 ", {}),
    ("mmsd2", "data/text_json_final/train.json", lambda p: put_before(p, b'"text"', DEEP),
     r"JSON nested deeper than Python can read", {}),
    ("mmsd2", "data/text_json_final/train.json", lambda p: put_before(p, b'"text"', HUGE),
     r"a number at line 9 has more digits than Python reads", {}),
    ("mmhs150k", "MMHS150K_GT.json", lambda p: put_before(p, b'"img_url"', DEEP),
     r"JSON nested deeper than Python can read after entry '1114679353714016256'", {}),
    ("mmhs150k", "MMHS150K_GT.json", lambda p: put_before(p, b'"img_url"', HUGE),
     r"a number with too many digits after entry '1114679353714016256'", {}),
    ("mmhs150k", "img_txt/1023940829757263873.json", lambda p: p.write_bytes(DEEP),
     r"JSON nested deeper than Python can read", {}),
]


@pytest.mark.parametrize("name, rel, breaker, message, options", CASES,
                         ids=[f"{c[0]}-{c[1].rsplit('/', 1)[-1]}-{i}" for i, c in enumerate(CASES)])
def test_source_errors_name_file_and_position(tmp_path, name, rel, breaker, message, options):
    root = copy_of(name, tmp_path)
    breaker(root / rel)
    with pytest.raises(SourceFormatError) as err:
        read_all(name, root, **options)
    text = str(err.value)
    assert text.startswith(f"{root / rel}: ") or text.startswith(f"{root / rel}, "), text
    assert re.search(message, text[len(str(root / rel)) + 2:]), text


def test_cli_reports_the_file_in_one_line(tmp_path, capsys):
    root = copy_of("mmsd2", tmp_path)
    cut_at(root / "data/text_json_final/train.json", b'"text": "lovely')
    assert bench_main(["build", "--dataset", "mmsd2", "--root", str(root), "--out",
                       str(tmp_path / "out"), "--quiet"]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert f"{root}/data/text_json_final/train.json: line 9 column 17: invalid JSON" in err


def test_every_adapter_with_text_files_is_covered():
    assert {c[0] for c in CASES} == {"emotic", "meld", "emotion6", "mintrec", "urfunny",
                                     "mmhs150k", "mmsd2"}  # caer_s reads no text file


@pytest.mark.parametrize("name", ["caer_s", "emotic", "emotion6", "mmhs150k", "mmsd2"])
def test_image_that_does_not_decode_is_dropped_and_counted(tmp_path, name):
    root = copy_of(name, tmp_path)
    clean = build_one(name, tmp_path / "clean", root=root)
    victim = clean["train"][0]
    image = root / victim["image"].split("/", 1)[1]
    data = image.read_bytes()
    image.write_bytes(data[:len(data) // 2])  # a truncated download: header intact
    built = build_one(name, tmp_path / "out", root=root)
    drops = built["manifest"]["datasets"][name]["drops"]["train"]
    unreadable = {k: v for k, v in drops.items() if k.startswith("image unreadable")}
    assert [v["count"] for v in unreadable.values()] == [1], drops
    assert victim["source_id"] in next(iter(unreadable.values()))["examples"]
    assert victim["source_id"] not in {r["source_id"] for r in built["train"] + built["test"]}


def test_media_file_name_that_is_not_utf8_is_dropped_and_counted(tmp_path):
    root = copy_of("caer_s", tmp_path)
    good = sorted((root / "train" / "Happy").glob("*.png"))[0]
    shutil.copyfile(good, root / "train" / "Happy" / os.fsdecode(b"caf\xe9.png"))
    built = build_one("caer_s", tmp_path / "out", root=root)
    drops = built["manifest"]["datasets"]["caer_s"]["drops"]["train"]
    assert drops["media file name not UTF-8"]["count"] == 1
    assert drops["media file name not UTF-8"]["examples"] == ["train/Happy/caf\\udce9"]


def test_a_full_disk_names_the_file_and_leaves_no_temp_file(tmp_path, capsys, monkeypatch):
    from emollm_plugin.bench import build
    root = copy_of("mmsd2", tmp_path)
    real_open = open

    def opener(path, *args, **kwargs):
        handle = real_open(path, *args, **kwargs)
        return FullDisk(handle) if Path(path).name.startswith(".test.json") else handle

    monkeypatch.setattr(build, "open", opener, raising=False)
    out = tmp_path / "out"
    assert bench_main(["build", "--dataset", "mmsd2", "--root", str(root), "--out", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert f"{out / 'test.json'}: cannot write it (No space left on device;" in err
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no temp file left behind
    assert not (out / "manifest.json").exists()  # the folder stays marked incomplete
