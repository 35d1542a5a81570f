"""Files written with holes where their bytes are zeros (sparse files), as Glance's
filesystem store does with ``filesystem_store_thin_provisioning``.

A VM image is often mostly zeros (a raw disk's unused space). A block of zeros written
past a file's end need not be written at all: its offset is passed over, the file's size
set at the end, and the file system keeps no disk block for it and reads it back as
zeros. Whether a block is zeros costs one ``memcmp`` against a block of zeros, which stops
at the first byte that is not one: on dense data a few comparisons per chunk, with no copy
(``bytes.startswith`` compares in place).

Only bytes past the file's end may be skipped: every writer here appends to a new file or
to one truncated where it writes from.
"""

from __future__ import annotations

import os

KiB = 1024
BLOCK_SIZE = 64 * KiB  # Glance's filesystem_store_chunk_size, a multiple of any disk block


class FileWriter:
    """Writes chunks one after another into ``fd`` from ``offset`` on, past which the file
    holds nothing; blocks of zeros (aligned to ``block_size`` in the file) become holes
    unless ``block_size`` is 0. ``finish`` gives the file its whole size."""

    def __init__(self, fd: int, offset: int = 0, block_size: int = BLOCK_SIZE) -> None:
        self._fd = fd
        self.offset = offset  # where the next chunk goes
        self._written = offset  # where the bytes written end: the file's size so far
        self._block = block_size
        self._zeros = memoryview(bytes(block_size))

    def write(self, chunk: bytes | bytearray | memoryview) -> None:
        if not self._block:
            self._write(chunk, 0, len(chunk))
            self.offset += len(chunk)
            return
        if not isinstance(chunk, bytes | bytearray):  # a memoryview has no startswith
            chunk = bytes(chunk)
        block, zeros, size = self._block, self._zeros, len(chunk)
        data = None  # where the bytes to write (not zeros) start in the chunk
        position = 0
        while position < size:
            # Blocks are aligned to the file, not to the chunk: the file system's are.
            end = min(size, position + block - (self.offset + position) % block)
            length = end - position
            if chunk.startswith(zeros if length == block else zeros[:length], position):
                if data is not None:
                    self._write(chunk, data, position)
                    data = None
            elif data is None:
                data = position
            position = end
        if data is not None:
            self._write(chunk, data, size)
        self.offset += size

    def _write(self, chunk: bytes | bytearray | memoryview, start: int, end: int) -> None:
        view = memoryview(chunk)[start:end]
        offset = self.offset + start
        while view:
            done = os.pwrite(self._fd, view, offset)
            view, offset = view[done:], offset + done
        self._written = self.offset + end

    def finish(self) -> None:
        """Extend the file to its whole size when it ends with a hole (trailing zeros
        skipped), which takes no disk block."""
        if self._written < self.offset:
            os.ftruncate(self._fd, self.offset)
            self._written = self.offset
