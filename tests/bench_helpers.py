"""Small helpers shared by the EmoBench image-adapter tests."""
from __future__ import annotations

import json
from pathlib import Path

from emollm_plugin.bench.adapters import get_adapter
from emollm_plugin.bench.adapters.base import SourceSample
from emollm_plugin.bench.build import BuildConfig, DatasetSpec, build
from emollm_plugin.tasks.schema import check_record

FIXTURES = Path(__file__).parent / "fixtures"


def all_samples(name: str, root: Path | None = None, **options) -> dict[str, SourceSample]:
    """Every sample the adapter yields (drops included), by source id."""
    adapter = get_adapter(name)(**options)
    samples = list(adapter.iter_samples(root or FIXTURES / name))
    by_id = {s.source_id: s for s in samples}
    assert len(by_id) == len(samples), "source ids must be unique"
    return by_id


def build_one(name: str, out: Path, root: Path | None = None, seed: int = 0, val_from: str = "train",
              **spec) -> dict:
    """Build one dataset; returns the manifest plus the loaded train/test records. The adapter
    tests keep the whole test side as test (``val_from="train"``); test_bench_valtest.py and
    test_bench_val_split.py test the two val modes."""
    config = BuildConfig([DatasetSpec(name, root or FIXTURES / name, **spec)], out, seed=seed, val_from=val_from)
    manifest = build(config, progress=False)
    records = {s: json.loads((out / f"{s}.json").read_text()) for s in ("train", "test")}
    return {"manifest": manifest, **records}


def check_records(records: list[dict], name: str, media_root: Path) -> None:
    """Schema, dataset prefix and media existence of built records."""
    for record in records:
        check_record(record)
        media = record.get("image") or record.get("video")
        assert media.startswith(f"{name}/")
        assert (media_root / media).is_file(), media


def output_bytes(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.glob("*.json"))}
