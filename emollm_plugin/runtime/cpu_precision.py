"""Whether this CPU runs bfloat16 natively, so ``--dtype bfloat16`` is refused where it would be
emulated (slower than float32, the opposite of why one asks for it).

Native bf16 on x86 means the AVX512-BF16 instructions (``avx512_bf16`` in /proc/cpuinfo, AMD Zen 4
and Intel Cooper Lake onwards) or AMX tiles (``amx_bf16``, Intel Sapphire Rapids onwards), which
oneDNN uses for bf16 matrix products; torch reports the same through
``torch.backends.mkldnn``'s bf16 check where it has one. ARM CPUs with the ``bf16`` feature
(Armv8.6) qualify too.
"""
from __future__ import annotations

from pathlib import Path

BF16_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    """The CPU's feature flags (x86 ``flags``, ARM ``Features``); empty when unreadable."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    return set()


def cpu_bf16_support() -> tuple[bool, str]:
    """(supported, what decided it)."""
    import torch

    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    if check is not None:
        try:
            if check():
                return True, "torch's oneDNN reports native bf16"
        except RuntimeError:
            pass
    found = sorted(cpu_flags() & set(BF16_FLAGS))
    if found:
        return True, f"CPU flags {', '.join(found)}"
    return False, f"no bf16 instructions on this CPU (none of {', '.join(BF16_FLAGS)} in /proc/cpuinfo)"
