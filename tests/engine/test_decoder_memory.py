"""The KV cache's memory follows the tokens in it, not the size of the window."""

from __future__ import annotations

import ctypes
import sys

import pytest

from desktop.engine.decoder import lazy_zeros

PAGE = 4096


def resident_kib(addr: int, nbytes: int) -> int:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    start = addr // PAGE * PAGE
    length = addr + nbytes - start
    pages = (length + PAGE - 1) // PAGE
    vec = (ctypes.c_ubyte * pages)()
    assert libc.mincore(ctypes.c_void_p(start), ctypes.c_size_t(length), vec) == 0
    return sum(v & 1 for v in vec) * PAGE // 1024


@pytest.mark.skipif(sys.platform != "linux", reason="mincore residency check is Linux-only")
def test_writing_one_token_per_head_touches_a_few_pages_not_megabytes() -> None:
    heads, max_len, dim = 3, 8192, 64  # the starter model's cache shape per layer
    kv = lazy_zeros((1, heads, max_len, dim))
    assert resident_kib(kv.ctypes.data, kv.nbytes) == 0
    kv[0, :, 0, :] = 1.0  # what GroupQueryAttention writes for the first token
    # 3 heads x one 4 KiB page; a transparent huge page would make it 2 MiB per head
    assert resident_kib(kv.ctypes.data, kv.nbytes) <= 3 * 8
    assert float(kv.sum()) == heads * dim
