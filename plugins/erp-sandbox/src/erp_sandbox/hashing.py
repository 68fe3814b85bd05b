"""Stateless 64-bit hashing (splitmix64), in pure Python and vectorised with numpy.

Every generated value is a hash of (salt, index[, version]); the salt comes from
(seed, tenant, entity, field), so record i of an entity is a pure function of
(seed, tenant, entity, i). Both implementations give identical results.
"""

from __future__ import annotations

import hashlib

import numpy as np

MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
VERSION_STEP = 0xD1B54A32D192ED03
_C1 = 0xBF58476D1CE4E5B9
_C2 = 0x94D049BB133111EB

_U = np.uint64
_NP_GOLDEN = _U(GOLDEN)
_NP_VSTEP = _U(VERSION_STEP)
_NP_C1 = _U(_C1)
_NP_C2 = _U(_C2)
_S30, _S27, _S31 = _U(30), _U(27), _U(31)


def make_salt(*parts: object) -> int:
    """A 64-bit salt derived from the given parts (seed, tenant, entity, field...)."""
    text = "|".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")


def mix(x: int) -> int:
    """splitmix64 finaliser on a Python int."""
    x &= MASK
    x = ((x ^ (x >> 30)) * _C1) & MASK
    x = ((x ^ (x >> 27)) * _C2) & MASK
    return x ^ (x >> 31)


def h(salt: int, i: int, version: int = 0) -> int:
    """Hash of (salt, i, version) as a Python int."""
    return mix(salt + i * GOLDEN + version * VERSION_STEP)


def mix_np(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser on a uint64 array (modifies and returns `x`)."""
    x ^= x >> _S30
    x *= _NP_C1
    x ^= x >> _S27
    x *= _NP_C2
    x ^= x >> _S31
    return x


def h_np(salt: int, idx: np.ndarray, version: np.ndarray | None = None) -> np.ndarray:
    """Hash of (salt, idx[k], version[k]) for every k, as uint64."""
    x = idx.astype(np.uint64) * _NP_GOLDEN
    x += _U(salt & MASK)
    if version is not None:
        x += version.astype(np.uint64) * _NP_VSTEP
    return mix_np(x)


def uniform_np(hv: np.ndarray) -> np.ndarray:
    """Map uint64 hashes to floats in [0, 1)."""
    return (hv >> _U(11)).astype(np.float64) * (1.0 / (1 << 53))


def mod_np(hv: np.ndarray, m: int) -> np.ndarray:
    """hash % m as int64."""
    return (hv % _U(m)).astype(np.int64)
