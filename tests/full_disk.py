"""A file handle on a full disk, for tests of what a write that fails with ENOSPC leaves behind."""
from __future__ import annotations

import errno
import os


class FullDisk:
    """Wraps an open file: the first write stores half of its bytes, then raises ENOSPC."""

    def __init__(self, handle):
        self.handle = handle

    def write(self, data):
        self.handle.write(data[:len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name):
        return getattr(self.handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.close()
