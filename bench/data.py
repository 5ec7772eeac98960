"""Deterministic model directories, generated once per (size, seed) and cached.

A directory holds four parts (``part-1`` .. ``part-4``, one per layer in the multi-layer case).
Each part is half random bytes (two large "weights" files, which no compressor shrinks) and half
compressible data: one large npy-like float32 array with low-entropy exponent bytes, and many small
text shards. Bytes come from AES-CTR keystreams keyed by seed and path: fast and reproducible.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

VERSION = 1  # bump when the generator changes, so cached directories are regenerated
PARTS = 4
MIB = 1 << 20
_BLOCK = 4 * MIB
_SHARD_SIZES = (4 << 10, 16 << 10, 64 << 10, 256 << 10)
_FILES_PER_SHARD_DIR = 100
# Digits dominate, with separators: like CSV or logs of numbers (about 4 bits of entropy a byte).
_TEXT = bytes(b"0123456789012345678901234567890123456789.,,;  \n-e"[i % 48] for i in range(256))


def _stream(seed: int, name: str) -> Iterator[bytes]:
    key = hashlib.sha256(f"{seed}:{name}".encode()).digest()
    encryptor = Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor()
    zeros = bytes(_BLOCK)
    while True:
        yield encryptor.update(zeros)


def _write(path: Path, size: int, blocks: Iterator[bytes]) -> None:
    with path.open("wb") as f:
        while size > 0:
            block = next(blocks)[:size]
            f.write(block)
            size -= len(block)


def _text(seed: int, name: str) -> Iterator[bytes]:
    for block in _stream(seed, name):
        yield block.translate(_TEXT)


def _npy_like(seed: int, name: str) -> Iterator[bytes]:
    header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }"
    header += b" " * (63 - len(header) % 64) + b"\n"
    yield b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header
    ones = b"\x3f" * (_BLOCK // 4)
    for block in _stream(seed, name):
        data = bytearray(block)
        data[3::4] = ones  # same sign and exponent: values in [0.5, 2)
        data[2::4] = data[2::4].translate(bytes(0x80 | (i & 0x0F) for i in range(256)))
        yield bytes(data)


def _generate_part(root: Path, seed: int, size: int) -> None:
    root.mkdir(parents=True)
    quarter = size // 4
    for i in range(2):
        name = f"weights-{i}.bin"
        _write(root / name, quarter, _stream(seed, f"{root.name}/{name}"))
    _write(root / "activations.npy", quarter, _npy_like(seed, f"{root.name}/activations.npy"))
    left, index = size - 3 * quarter, 0
    while left > 0:
        shard = min(_SHARD_SIZES[index % len(_SHARD_SIZES)], left)
        directory = root / "text" / f"shard-{index // _FILES_PER_SHARD_DIR:03d}"
        directory.mkdir(parents=True, exist_ok=True)
        name = f"{directory.name}/{index:05d}.txt"
        _write(directory / f"{index:05d}.txt", shard, _text(seed, f"{root.name}/{name}"))
        left -= shard
        index += 1


def model_dir(cache: Path, size_mib: int, seed: int) -> Path:
    """The cached model directory of ``size_mib`` MiB for ``seed``, generated on first use."""
    target = cache / f"model-v{VERSION}-seed{seed}-{size_mib}MiB"
    done = target.with_name(target.name + ".complete")  # outside: it must not end up in images
    if done.exists() and target.is_dir():
        return target
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.rmtree(target, ignore_errors=True)
    total = size_mib * MIB
    for part in range(PARTS):
        _generate_part(partial / f"part-{part + 1}", seed, total // PARTS)
    os.replace(partial, target)
    done.touch()
    return target


def parts(model: Path) -> list[Path]:
    return [model / f"part-{i + 1}" for i in range(PARTS)]
