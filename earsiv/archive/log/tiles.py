"""Hash tiles: the log's subtree hashes, stored so that a proof reads O(log n) objects.

The layout is C2SP tlog-tiles' (as in Sunlight and Tessera), with tiles of height 8:

    tile key  = "log/tile/" || L || "/" || N-path [ || ".p/" || W ]
    tile      = W hashes of 32 bytes, concatenated (W = 256 for a full tile)

The tile at level L, index N holds the hashes at tree height 8·L of the subtrees that start
at leaf N·256^(L+1) + i·256^L, for i < W: level 0 holds leaf hashes, level 1 the roots of
256-leaf subtrees, and so on.  N is written in groups of three digits, all but the last with
an ``x``: 1234067 is ``x001/x234/067``.  A full tile (W = 256) is written once, when its
last hash exists; a *partial* tile (``.p/W``) holds the hashes a tree of size n has beyond
the last full tile of its level, and is written for every checkpoint size n, before the
checkpoint itself.  So for any checkpointed size every hash a proof needs is in one of the
tiles of that size, and the right edge of the tree at the latest checkpoint (what an
appender needs) is its partial tiles: one read per level.

Tiles are derived data: the leaves decide every byte, and ``Log.rebuild_tiles`` writes them
again from the bundles.  A proof built from tiles is checked against the signed checkpoint
root before anyone sees it, so a damaged tile is found, never believed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from earsiv.archive.errors import StoreError
from earsiv.archive.log.merkle import EMPTY_ROOT, HASH_SIZE, node_hash

__all__ = [
    "HEIGHT", "TILE_PREFIX", "WIDTH", "FullTile", "TileState", "TreeHashes", "parse_tile_key", "perfect_root", "tile_key",
    "tile_keys",
]

HEIGHT = 8
WIDTH = 1 << HEIGHT
TILE_PREFIX = "log/tile/"


def _index_path(n: int) -> str:
    groups = []
    while True:
        groups.append(n % 1000)
        n //= 1000
        if n == 0:
            break
    groups.reverse()
    return "/".join([f"x{g:03d}" for g in groups[:-1]] + [f"{groups[-1]:03d}"])


def tile_key(level: int, index: int, width: int = WIDTH) -> str:
    if not 0 < width <= WIDTH or level < 0 or index < 0:
        raise ValueError(f"no tile at level {level}, index {index}, width {width}")
    key = f"{TILE_PREFIX}{level}/{_index_path(index)}"
    return key if width == WIDTH else f"{key}.p/{width}"


def parse_tile_key(key: str) -> tuple[int, int, int]:
    """(level, index, width) of a tile key; ValueError for anything else."""
    if not key.startswith(TILE_PREFIX):
        raise ValueError(f"{key!r} is not a tile key")
    rest = key[len(TILE_PREFIX) :]
    width = WIDTH
    if ".p/" in rest:
        rest, _, w = rest.partition(".p/")
        width = int(w)
    level, _, path = rest.partition("/")
    groups = path.split("/")
    if not groups or any(not g.removeprefix("x").isdigit() for g in groups):
        raise ValueError(f"{key!r} is not a tile key")
    index = 0
    for g in groups:
        index = index * 1000 + int(g.removeprefix("x"))
    if tile_key(int(level), index, width) != key:
        raise ValueError(f"{key!r} is not a tile key in canonical form")
    return int(level), index, width


def _width(level: int, index: int, size: int) -> int:
    """How many hashes the tile (level, index) holds in a tree of *size* leaves (0: none yet)."""
    count = size >> (HEIGHT * level)
    return max(0, min(WIDTH, count - (index << HEIGHT)))


def tile_keys(size: int) -> Iterator[str]:
    """The keys of the partial tiles of a tree of *size* leaves (its right edge), lowest level first."""
    level = 0
    while size >> (HEIGHT * level):
        count = size >> (HEIGHT * level)
        if count % WIDTH:
            yield tile_key(level, count >> HEIGHT, count % WIDTH)
        level += 1


def perfect_root(hashes: list[bytes]) -> bytes:
    """Root of a perfect subtree whose leaves (or lower roots) are *hashes* (a power of two of them)."""
    n = len(hashes)
    if n == 0 or n & (n - 1):
        raise ValueError(f"a perfect subtree has a power of two of hashes, not {n}")
    while len(hashes) > 1:
        hashes = [node_hash(hashes[i], hashes[i + 1]) for i in range(0, len(hashes), 2)]
    return hashes[0]


def _split(data: bytes, key: str) -> list[bytes]:
    if len(data) % HASH_SIZE:
        raise StoreError(f"tile {key} is {len(data)} bytes, not a multiple of {HASH_SIZE}: damaged", name=key)
    return [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


@dataclass(frozen=True, slots=True)
class FullTile:
    level: int
    index: int
    data: bytes

    @property
    def key(self) -> str:
        return tile_key(self.level, self.index)


class TileState:
    """The right edge of the tree in memory: at each level, the hashes beyond its last full tile.

    At most 255 hashes per level, whatever the log's size.  ``append`` takes leaf hashes and
    hands back the tiles that became full (to be written); ``partial_tiles`` are the tiles of
    the current size (written with a checkpoint); ``root`` is the tree head.
    """

    __slots__ = ("_levels", "size")

    def __init__(self, size: int = 0, levels: list[list[bytes]] | None = None) -> None:
        self.size = size
        self._levels: list[list[bytes]] = levels if levels is not None else []

    @classmethod
    def load(cls, size: int, get: Callable[[str], bytes]) -> TileState:
        """The edge of a tree of *size* from its partial tiles (one read per level)."""
        levels: list[list[bytes]] = []
        level = 0
        while size >> (HEIGHT * level):
            count = size >> (HEIGHT * level)
            width = count % WIDTH
            if width:
                key = tile_key(level, count >> HEIGHT, width)
                hashes = _split(get(key), key)
                if len(hashes) != width:
                    raise StoreError(f"tile {key} holds {len(hashes)} hashes, not {width}: damaged", name=key)
                levels.append(hashes)
            else:
                levels.append([])
            level += 1
        return cls(size, levels)

    def copy(self) -> TileState:
        return TileState(self.size, [list(hs) for hs in self._levels])

    def append(self, leaf_hash: bytes) -> list[FullTile]:
        full: list[FullTile] = []
        h, level = leaf_hash, 0
        self.size += 1
        while True:
            if level == len(self._levels):
                self._levels.append([])
            hashes = self._levels[level]
            hashes.append(h)
            if len(hashes) < WIDTH:
                return full
            index = (self.size >> (HEIGHT * (level + 1))) - 1
            full.append(FullTile(level, index, b"".join(hashes)))
            h = perfect_root(hashes)
            self._levels[level] = []
            level += 1

    def partial_tiles(self) -> list[tuple[str, bytes]]:
        out = []
        for level, hashes in enumerate(self._levels):
            if hashes:
                count = self.size >> (HEIGHT * level)
                out.append((tile_key(level, count >> HEIGHT, len(hashes)), b"".join(hashes)))
        return out

    def root(self) -> bytes:
        """MTH of the whole tree: the perfect subtrees of the edge, joined right to left."""
        parts: list[bytes] = []
        for hashes in reversed(self._levels):
            pos = 0
            for bit in reversed(range(HEIGHT)):
                if len(hashes) & (1 << bit):
                    parts.append(perfect_root(hashes[pos : pos + (1 << bit)]))
                    pos += 1 << bit
        if not parts:
            return EMPTY_ROOT
        h = parts[-1]
        for left in reversed(parts[:-1]):
            h = node_hash(left, h)
        return h

    def hashes_at(self, level: int) -> list[bytes]:
        return list(self._levels[level]) if level < len(self._levels) else []


class TreeHashes:
    """Subtree hashes of the tree of *size* leaves, read from its tiles (a few, cached).

    ``subtree(lo, hi)`` is MTH(D[lo:hi]) for any node range of RFC 9162's tree of this size,
    which is all that inclusion and consistency proofs ask for.  *edge* may supply the
    partial tiles from memory (the tree's current size, not yet written).
    """

    def __init__(self, size: int, get: Callable[[str], bytes], edge: TileState | None = None) -> None:
        self.size = size
        self._get = get
        self._edge = edge if edge is not None and edge.size == size else None
        self._tiles: dict[tuple[int, int], list[bytes]] = {}
        self.reads = 0

    def _tile(self, level: int, index: int) -> list[bytes]:
        hit = self._tiles.get((level, index))
        if hit is not None:
            return hit
        width = _width(level, index, self.size)
        if width == 0:
            raise ValueError(f"a tree of {self.size} leaves has no tile at level {level}, index {index}")
        count = self.size >> (HEIGHT * level)
        if width < WIDTH and self._edge is not None and index == count >> HEIGHT:
            hashes = self._edge.hashes_at(level)
        else:
            key = tile_key(level, index, width)
            hashes = _split(self._get(key), key)
            self.reads += 1
            if len(hashes) != width:
                raise StoreError(f"tile {key} holds {len(hashes)} hashes, not {width}: damaged", name=key)
        self._tiles[(level, index)] = hashes
        return hashes

    def hashes(self, level: int, first: int, count: int) -> list[bytes]:
        """*count* hashes of *level* from index *first* (within one tile)."""
        tile = self._tile(level, first >> HEIGHT)
        off = first & (WIDTH - 1)
        if off + count > len(tile):
            raise ValueError(f"hashes {first}..{first + count} of level {level} cross a tile")
        return tile[off : off + count]

    def leaf_hash(self, index: int) -> bytes:
        if not 0 <= index < self.size:
            raise ValueError(f"leaf {index} outside a tree of size {self.size}")
        return self.hashes(0, index, 1)[0]

    def subtree(self, lo: int, hi: int) -> bytes:
        n = hi - lo
        if n <= 0 or hi > self.size:
            raise ValueError(f"no subtree {lo}..{hi} in a tree of size {self.size}")
        if n & (n - 1) == 0 and lo % n == 0:
            k = n.bit_length() - 1
            level, rest = divmod(k, HEIGHT)
            return perfect_root(self.hashes(level, lo >> (HEIGHT * level), 1 << rest))
        k = 1 << ((n - 1).bit_length() - 1)
        return node_hash(self.subtree(lo, lo + k), self.subtree(lo + k, hi))

    def root(self) -> bytes:
        return self.subtree(0, self.size) if self.size else EMPTY_ROOT

