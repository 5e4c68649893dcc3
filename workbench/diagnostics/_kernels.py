"""Vectorised kernels: per-axis binning (bit-exact ``np.digitize``) and exact unique-row counting.

Nothing here knows about datasets; :mod:`workbench.diagnostics.coverage` feeds it arrays.

Binning
    ``np.digitize(x, np.linspace(lo, hi, bins))`` computed arithmetically
    (``floor((x - lo) / step) + 1``, clipped to ``[0, bins]``) and then corrected by one
    comparison against the true edges on each side, so the result is bit-identical to
    ``np.digitize`` (including values exactly on an edge) at a fraction of its cost
    (binary search per element).  The edges are compared in the data's own dtype after
    rounding them *up* to that dtype, which is exact: for a float32 ``x`` and a float64
    edge ``e``, ``x >= e`` iff ``x >= ceil32(e)``.

Unique rows
    Each row of small integer codes is packed into as few uint64 words as a mixed-radix
    number allows (product of the radices <= 2**64 per word).  One word: sort and count
    changes (exact).  Several words: a 64-bit mixing hash of the words is argsorted and
    every pair of adjacent rows that share a hash is checked word by word, so the count is
    exact; a hash collision only makes the colliding group be ordered exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["BinSpec", "Binner", "bin_codes", "minmax", "column_stats", "float_pack_matrix",
           "plan_words", "pack_words", "hash_words", "unique_count", "unique_rank",
           "count_states_pairs", "CHUNK_ROWS"]

#: rows per chunk: keeps the temporaries of one chunk in L2 cache.
CHUNK_ROWS = 16384

_U64 = np.uint64
_M1 = _U64(0xBF58476D1CE4E5B9)
_M2 = _U64(0x94D049BB133111EB)
_GOLDEN = _U64(0x9E3779B97F4A7C15)


@dataclass(frozen=True)
class BinSpec:
    """Per-axis equal-width binning of ``d`` columns against fixed limits.

    Attributes:
        lo, hi: (d,) float64 per-axis limits (``hi > lo`` except for zero-width axes,
            which are allowed here; callers reject them where the semantics require it).
        bins: number of edges of ``np.linspace(lo, hi, bins)``; codes lie in ``0..bins``
            (``bins + 1`` values: 0 below ``lo``, ``bins`` at or above ``hi``).
    """

    lo: np.ndarray
    hi: np.ndarray
    bins: int

    @property
    def radix(self) -> int:
        return self.bins + 1

    def edges(self) -> np.ndarray:
        """(d, bins) float64 edges exactly as ``np.linspace(lo[c], hi[c], bins)``."""
        return np.stack([np.linspace(lo, hi, self.bins) for lo, hi in zip(self.lo, self.hi)])

    def tables(self, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Arithmetic coefficients and correction tables for data of ``dtype``.

        Returns ``(scale, offset, lower, upper)``: ``scale``/``offset`` (d,) so that
        ``x * scale + offset`` approximates ``digitize(x)``; ``lower``/``upper``
        (d * (bins + 1),) flat tables with, for code ``k`` of column ``c`` at index
        ``c * (bins + 1) + k``, the edge below (``edges[k-1]``, ``-inf`` for ``k = 0``) and
        the edge above (``edges[k]``, ``+inf`` for ``k = bins``), rounded up to ``dtype``.
        """
        d, b = len(self.lo), self.bins
        width = self.hi - self.lo
        zero = width <= 0
        scale = np.where(zero, 0.0, (b - 1) / np.where(zero, 1.0, width))
        offset = np.where(zero, float(b), 1.0 - self.lo * scale)
        edges = self.edges()
        lower = np.full((d, b + 1), -np.inf)
        upper = np.full((d, b + 1), np.inf)
        lower[:, 1:] = edges
        upper[:, :b] = edges
        return (scale.astype(dtype), offset.astype(dtype), _round_up(lower.ravel(), dtype),
                _round_up(upper.ravel(), dtype))


def _round_up(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Smallest value of ``dtype`` that is >= each float64 value (infinities kept)."""
    out = values.astype(dtype)
    low = out.astype(np.float64) < values
    out[low] = np.nextafter(out[low], np.array(np.inf, dtype=dtype))
    return out


class Binner:
    """Applies one :class:`BinSpec` to (C, d) chunks of one float dtype.

    ``x * scale + offset`` (in the data's dtype, with pre-tiled operands so every ufunc
    runs over contiguous memory) gives ``digitize(x)`` up to a rounding error bounded per
    column by ``eps``; only the elements whose value lies within ``eps`` of an integer
    (about 1e-4 of them) are re-decided by comparing ``x`` with the true edge.  Columns
    whose bound is too loose in float32 (limits far from zero relative to their width)
    make the binner compute in float64.
    """

    def __init__(self, spec: BinSpec, dtype: np.dtype, chunk: int | None = None) -> None:
        chunk = chunk or CHUNK_ROWS
        dtype = np.dtype(dtype)
        if dtype.kind != "f" or dtype.itemsize < 4:
            dtype = np.dtype(np.float64)
        b = spec.bins
        width = spec.hi - spec.lo
        zero = width <= 0
        scale = np.where(zero, 0.0, (b - 1) / np.where(zero, 1.0, width))
        offset = np.where(zero, float(b), 1.0 - spec.lo * scale)
        bound = (np.maximum(np.abs(spec.lo), np.abs(spec.hi)) * scale + np.abs(offset) + b + 2)
        if dtype.itemsize == 4 and (bound * 2.0 ** -21).max() >= 0.25:
            dtype = np.dtype(np.float64)
        unit = 2.0 ** -21 if dtype.itemsize == 4 else 2.0 ** -50
        eps = np.minimum(bound * unit, 0.25)
        self.dtype = dtype
        self.bins = b
        self.d = d = len(spec.lo)
        self.zero_cols = np.flatnonzero(zero)
        tile = (chunk, d)
        self.scale = np.ascontiguousarray(np.broadcast_to(scale.astype(dtype), tile))
        self.offset = np.ascontiguousarray(np.broadcast_to(offset.astype(dtype), tile))
        self.eps = np.ascontiguousarray(np.broadcast_to(eps.astype(dtype), tile))
        edges = spec.edges()
        self.upper = _round_up(edges.ravel(), dtype).reshape(d, b)  # edge k of column c
        self.pack = float_pack_matrix(d, b + 1)
        self.word_radices = float_word_radices(d, b + 1, self.pack)

    def codes(self, x: np.ndarray) -> np.ndarray:
        """(C, d) values -> (C, d) codes (as floats of ``self.dtype``) equal to ``np.digitize``."""
        C = x.shape[0]
        if C > self.scale.shape[0]:  # a larger chunk than planned: widen the tiles
            self.scale, self.offset, self.eps = (
                np.ascontiguousarray(np.broadcast_to(a[0], (C, self.d)))
                for a in (self.scale, self.offset, self.eps))
        if x.dtype != self.dtype:
            x = x.astype(self.dtype)
        t = np.multiply(x, self.scale[:C])
        t += self.offset[:C]
        np.clip(t, 0, self.bins, out=t)
        r = np.rint(t)
        r -= t
        np.abs(r, out=r)
        sus = np.flatnonzero(r < self.eps[:C])
        np.floor(t, out=t)
        if len(sus):
            cols = sus % self.d
            xs = x.reshape(-1)[sus]
            tt = np.multiply(x.reshape(-1)[sus], self.scale[0, cols]) + self.offset[0, cols]
            m = np.clip(np.rint(tt), 0, self.bins).astype(np.int64)  # nearest boundary
            k = np.where(m >= 1, m - 1 + (xs >= self.upper[cols, np.maximum(m - 1, 0)]), 0)
            t.reshape(-1)[sus] = k
        if len(self.zero_cols):  # linspace(a, a, bins): x < a -> 0, x >= a -> bins
            for c in self.zero_cols:
                t[:, c] = np.where(x[:, c] >= self.upper[c, 0], self.bins, 0)
        return t

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.codes(x)

    def words(self, x: np.ndarray, out: np.ndarray, hash_out: np.ndarray | None = None
              ) -> np.ndarray:
        """Bin (C, d) values and pack each row into ``out`` (C, W) uint64 mixed-radix words;
        with ``hash_out`` (C,), also store each row's :func:`hash_words` (while in cache)."""
        codes = self.codes(x)
        packed = np.matmul(codes.astype(np.float64, copy=False), self.pack)
        np.copyto(out, packed, casting="unsafe")
        if hash_out is not None:
            hash_out[:] = hash_words(out)
        return out


def bin_codes(x: np.ndarray, spec: BinSpec) -> np.ndarray:
    """``np.digitize`` of each column of ``x`` (n, d) against ``np.linspace(lo, hi, bins)``.

    Returns (n, d) int64 codes in ``0..bins``; bit-identical to ``np.digitize``.
    """
    x = np.asarray(x)
    binner = Binner(spec, x.dtype)
    out = np.empty(x.shape, dtype=np.int64)
    for s in range(0, len(x), CHUNK_ROWS):
        out[s:s + CHUNK_ROWS] = binner.codes(x[s:s + CHUNK_ROWS])
    return out


def minmax(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column (min, max) of a (C, d) chunk.

    Reduces a (C/64, 64*d) view first: a reduction over axis 0 with only d columns runs
    its inner loop d elements at a time and is several times slower.
    """
    C, d = x.shape
    if C >= 128 and C % 64 == 0 and x.flags.c_contiguous:
        y = x.reshape(C // 64, 64 * d)
        return (y.min(axis=0).reshape(64, d).min(axis=0),
                y.max(axis=0).reshape(64, d).max(axis=0))
    return x.min(axis=0), x.max(axis=0)


def column_stats(x: np.ndarray, chunk: int | None = None) -> dict[str, np.ndarray]:
    """Per-column ``min``, ``max``, ``mean`` and ``std`` (ddof=0) of (n, d) data, float64.

    Chunked and reduced through wide views (see :func:`minmax`); the variance is
    accumulated around the first row to avoid cancellation.
    """
    n, d = x.shape
    chunk = chunk or CHUNK_ROWS
    shift = x[0].astype(np.float64)
    lo, hi = np.full(d, np.inf), np.full(d, -np.inf)
    s1, s2 = np.zeros(d), np.zeros(d)
    for a in range(0, n, chunk):
        c = x[a:a + chunk]
        mn, mx = minmax(c)
        lo, hi = np.minimum(lo, mn), np.maximum(hi, mx)
        z = c.astype(np.float64)
        z -= shift
        C = len(z)
        if C % 64 == 0:
            zw = z.reshape(C // 64, 64 * d)
            s1 += zw.sum(axis=0).reshape(64, d).sum(axis=0)
            z *= z
            s2 += z.reshape(C // 64, 64 * d).sum(axis=0).reshape(64, d).sum(axis=0)
        else:
            s1 += z.sum(axis=0)
            s2 += (z * z).sum(axis=0)
    m1 = s1 / n
    return {"min": lo, "max": hi, "mean": shift + m1,
            "std": np.sqrt(np.maximum(s2 / n - m1 * m1, 0.0))}


# ---------------------------------------------------------------------------------- packing
def plan_words(radices: Sequence[int]) -> list[list[int]]:
    """Group columns (in order) into uint64 words whose radix product fits 2**64."""
    groups: list[list[int]] = []
    prod = 1 << 65
    for c, r in enumerate(radices):
        r = max(int(r), 1)
        if prod * r > (1 << 64):
            groups.append([c])
            prod = r
        else:
            groups[-1].append(c)
            prod *= r
    return groups


def word_radices(radices: Sequence[int], groups: list[list[int]]) -> list[int]:
    """The radix (exclusive upper bound) of each packed word."""
    out = []
    for g in groups:
        p = 1
        for c in g:
            p *= max(int(radices[c]), 1)
        out.append(p)
    return out


def pack_words(codes: np.ndarray, radices: Sequence[int], groups: list[list[int]],
               out: np.ndarray | None = None) -> np.ndarray:
    """Pack (C, d) non-negative integer codes into (C, len(groups)) uint64 mixed-radix words."""
    C = codes.shape[0]
    if out is None:
        out = np.empty((C, len(groups)), dtype=_U64)
    for w, g in enumerate(groups):
        acc = codes[:, g[0]].astype(_U64)
        for c in g[1:]:
            acc *= _U64(radices[c])
            acc += codes[:, c].astype(_U64, copy=False)
        out[:, w] = acc
    return out


def float_pack_matrix(d: int, radix: int) -> np.ndarray:
    """(d, W) float64 powers packing ``d`` codes of ``radix`` into words below 2**53.

    ``codes.astype(float64) @ P`` is then exact (every partial sum is an integer < 2**53),
    and one BLAS call packs a whole chunk.
    """
    per = max(1, int(53 // math.log2(max(radix, 2))))
    while radix ** per > (1 << 53) and per > 1:
        per -= 1
    W = -(-d // per)
    P = np.zeros((d, W))
    for c in range(d):
        P[c, c // per] = float(radix ** (c % per))
    return P


def float_word_radices(d: int, radix: int, P: np.ndarray) -> list[int]:
    per = max(1, int(np.count_nonzero(P[:, 0])))
    return [radix ** min(per, d - w * per) for w in range(P.shape[1])]


# ---------------------------------------------------------------------------------- hashing
def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, in place on a uint64 array."""
    h ^= h >> _U64(30)
    h *= _M1
    h ^= h >> _U64(27)
    h *= _M2
    h ^= h >> _U64(31)
    return h


_KEYS = [_U64(k) for k in (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9,
                           0xD6E8FEB86659FD93, 0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53)]


def hash_words(words: np.ndarray) -> np.ndarray:
    """(n, W) uint64 -> (n,) uint64 hash, a function of the whole row.

    Each word times a different odd constant, XOR-ed, then a xor-shift-multiply
    finaliser so that the *top* bits (the ones the sort keys keep) depend on every word.
    Only speed depends on its quality: every use verifies equal hashes on the words.
    """
    h = words[:, 0] * _KEYS[0]
    for w in range(1, words.shape[1]):
        t = words[:, w] * _KEYS[w % len(_KEYS)]
        if w >= len(_KEYS):
            t += _U64(w)
        h ^= t
    h ^= h >> _U64(32)
    h *= _M1
    h ^= h >> _U64(29)
    return h


# --------------------------------------------------------------------------------- counting
#: largest single-word radix counted with a presence table rather than a sort.
_TABLE_LIMIT = 1 << 25


def unique_count(words: np.ndarray, radix: int | None = None) -> int:
    """Exact number of distinct rows of ``words`` (n, W) uint64.

    ``radix`` (single word only): exclusive upper bound of the values; small radices are
    counted with a presence table (O(n)) instead of a sort.
    """
    n = words.shape[0]
    if n == 0:
        return 0
    if words.shape[1] == 1:
        w = words[:, 0]
        if radix is not None and radix <= max(_TABLE_LIMIT, 4 * n):
            seen = np.zeros(int(radix), dtype=bool)
            seen[w] = True
            return int(np.count_nonzero(seen))
        s = np.sort(w)
        return int(np.count_nonzero(s[1:] != s[:-1])) + 1
    return unique_rank(words, radix)[0]


def unique_rank(words: np.ndarray, radix: int | None = None,
                _hash=hash_words) -> tuple[int, np.ndarray]:
    """Exact distinct rows of ``words`` (n, W) uint64 and each row's group id.

    Returns ``(u, rank)``: ``rank`` (n,) int64 in ``0..u-1``, equal for equal rows.

    The rows are ordered by a 64-bit key: the word itself when there is one word of known
    ``radix`` small enough, otherwise a mixing hash of the words.  When the row index fits
    in the low bits (n <= 2**24), key and index are packed into one uint64 and *sorted*
    (cheaper than an argsort).  Neighbours with equal key bits are then compared word by
    word: a hash collision (two different rows with equal key bits) only reorders that
    group exactly (``np.lexsort``), so the result is always exact.
    """
    n, W = words.shape
    if n == 0:
        return 0, np.zeros(0, dtype=np.int64)
    idx_bits = max(1, int(n - 1).bit_length())
    exact_key = W == 1 and radix is not None and radix <= (1 << (64 - idx_bits))
    hashed = not exact_key and not (W == 1 and idx_bits > 24)
    key = _hash(words) if hashed else words[:, 0].copy()
    if exact_key or (hashed and idx_bits <= 24):
        mask = np.uint64((1 << idx_bits) - 1)
        if exact_key:
            key <<= np.uint64(idx_bits)
        else:
            key &= ~mask
        key |= np.arange(n, dtype=np.uint64)
        key.sort()
        perm = (key & mask).astype(np.int64)
        key >>= np.uint64(idx_bits)
        ks = key
    else:
        perm = np.argsort(key)
        ks = key[perm]
        del key
    same = ks[1:] == ks[:-1]
    if hashed:
        i = np.flatnonzero(same)
        differ = _rows_differ(words, perm[i], perm[i + 1])
        if differ.any():  # equal key bits, different rows: order those groups exactly
            starts = np.flatnonzero(np.concatenate([[True], ~same]))
            seg = np.cumsum(np.concatenate([[True], ~same])) - 1
            ends = np.append(starts[1:], n)
            for g in np.unique(seg[i[differ]]):
                a, b = starts[g], ends[g]
                sub = perm[a:b]
                perm[a:b] = sub[np.lexsort(words[sub].T[::-1])]
            differ = _rows_differ(words, perm[i], perm[i + 1])
            same[i[differ]] = False
    del ks
    new = np.empty(n, dtype=np.int64)
    new[0] = 0
    np.cumsum(~same, out=new[1:])
    rank = np.empty(n, dtype=np.int64)
    rank[perm] = new
    return int(new[-1]) + 1, rank


def count_states_pairs(words: np.ndarray, n_state_words: int, a_radix: int | None = None,
                       _hash=hash_words, state_hash: np.ndarray | None = None,
                       action_hash: np.ndarray | None = None) -> tuple[int, int]:
    """Exact distinct states and distinct (state, action) pairs with one sort.

    ``words`` (n, Ws + Wa) uint64: each row's packed state words (the first
    ``n_state_words`` columns) then its action words; ``a_radix`` the exclusive bound of a
    single action word (e.g. the number of discrete actions), when known.
    ``state_hash`` / ``action_hash``: precomputed :func:`hash_words` of the state / action
    words (consumed: overwritten).

    Rows are sorted by one uint64 key ``[state-hash prefix | action bits | row index]``,
    so equal states are adjacent and, inside a state, equal actions are adjacent; the
    counts are the number of changes between neighbours, compared on the full words.
    Where a truncated hash makes two different states (or actions within a state) share a
    prefix, the rows of that prefix group are put in exact lexicographic order first
    (``np.lexsort``), so the counts are always exact.  Above 2**24 rows the index no longer
    leaves enough key bits and the two-pass :func:`unique_rank` route is used.
    """
    n = words.shape[0]
    if n == 0:
        return 0, 0
    S, A = words[:, :n_state_words], words[:, n_state_words:]
    c = max(1, int(n - 1).bit_length())
    if c > 24:
        u_s, rank = unique_rank(S, _hash=_hash)
        pair = np.empty((n, 1 + A.shape[1]), dtype=_U64)
        pair[:, 0] = rank
        pair[:, 1:] = A
        return u_s, unique_rank(pair, _hash=_hash)[0]
    if A.shape[1] == 1 and a_radix is not None and a_radix <= (1 << 12):
        b = max(1, int(a_radix - 1).bit_length())
        akey = A[:, 0].copy()
    else:
        b = 12
        akey = action_hash if action_hash is not None else _hash(A)
        akey >>= _U64(64 - b)
    a = 64 - b - c
    key = state_hash if state_hash is not None else _hash(S)
    key >>= _U64(64 - a)
    key <<= _U64(b)
    key |= akey
    del akey
    key <<= _U64(c)
    key |= np.arange(n, dtype=_U64)
    key.sort()
    perm = (key & _U64((1 << c) - 1)).astype(np.intp)
    key >>= _U64(c)  # (a | b) prefix
    sw = words.take(perm, axis=0)
    ss, sa = sw[:, :n_state_words], sw[:, n_state_words:]
    state_same = _rows_equal_next(ss)
    act_same = _rows_equal_next(sa)
    ab_same = key[1:] == key[:-1]
    key >>= _U64(b)  # a prefix
    a_same = key[1:] == key[:-1]
    bad = (a_same & ~state_same) | (ab_same & state_same & ~act_same)
    if bad.any():  # prefix collisions: order those prefix groups exactly
        run = np.empty(n, dtype=np.intp)
        run[0] = 0
        np.cumsum(~a_same, out=run[1:])
        bad_run = np.zeros(int(run[-1]) + 1, dtype=bool)
        bad_run[run[:-1][bad]] = True
        P = np.flatnonzero(bad_run[run])
        rows = perm[P]
        keys = [A[rows, w] for w in range(A.shape[1] - 1, -1, -1)]
        keys += [S[rows, w] for w in range(S.shape[1] - 1, -1, -1)]
        keys.append(run[P])
        rows = rows[np.lexsort(keys)]
        perm[P] = rows
        sw[P] = words[rows]
        i = P[P < n - 1]
        state_same[i] = (ss[i] == ss[i + 1]).all(axis=1)
        act_same[i] = (sa[i] == sa[i + 1]).all(axis=1)
        j = P[P > 0] - 1  # the neighbour before each group
        state_same[j] = (ss[j] == ss[j + 1]).all(axis=1)
        act_same[j] = (sa[j] == sa[j + 1]).all(axis=1)
    u_s = 1 + int(np.count_nonzero(~state_same))
    u_sa = 1 + int(np.count_nonzero(~(state_same & act_same)))
    return u_s, u_sa


def _rows_equal_next(w: np.ndarray) -> np.ndarray:
    """(n-1,) bool: row i equals row i+1 (all words)."""
    same = w[1:, 0] == w[:-1, 0]
    for k in range(1, w.shape[1]):  # noqa: B007
        same &= w[1:, k] == w[:-1, k]
    return same


def _rows_differ(words: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    differ = np.zeros(len(a), dtype=bool)
    for w in range(words.shape[1]):
        col = words[:, w]
        differ |= col.take(a) != col.take(b)
    return differ
