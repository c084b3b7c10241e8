"""Reading the next few input files on worker threads while the model works on the ones before.

Decoding compressed audio is a large share of transcription (speechocean762's Opus files: 7 of 20 seconds for
its 820 dev files, one thread), and libsndfile runs without Python's lock, so files read on threads overlap
with each other and with the network.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor


def read_ahead(inputs: Iterable, read: Callable, workers: int, depth: int | None = None
               ) -> Iterator[tuple[int, object, Future | None]]:
    """``(index, input, future of read(input))`` for each input, in order; the future is None for inputs that
    are not paths, and for all of them when ``workers`` is 1 (nothing read ahead).

    At most ``depth`` (default 2 x workers) inputs are taken ahead, so memory holds that many files at most. An
    input iterator that fails (a folder that cannot be listed, say) fails here only after the inputs before the
    failure have been handed out, as it would without reading ahead; a failed read fails at ``future.result()``.
    """
    if workers <= 1:
        for index, item in enumerate(inputs):
            yield index, item, None
        return
    depth = depth or 2 * workers
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="asr-read")
    source = enumerate(inputs)
    ahead: deque = deque()
    failure: BaseException | None = None
    try:
        while True:
            while failure is None and len(ahead) < depth:
                try:
                    index, item = next(source)
                except StopIteration:
                    break
                except Exception as error:  # raised in input order, below
                    failure = error
                    break
                future = pool.submit(read, item) if isinstance(item, (str, os.PathLike)) else None
                ahead.append((index, item, future))
            if not ahead:
                break
            yield ahead.popleft()
        if failure is not None:
            raise failure
    finally:
        # Reads not handed out are dropped; those handed out finish, so their futures stay good.
        for _, _, future in ahead:
            if future is not None:
                future.cancel()
        pool.shutdown(wait=True)
