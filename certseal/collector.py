"""The cyclic garbage collector of a long-running service process.

CPython's collector walks every tracked object of a generation when it collects it.
A service keeps what start-up allocated (modules, descriptors, pools, keyrings, a
verifier's recovered tables) for as long as it runs, and the objects of requests in
flight are promoted to the older generations that full collections walk: a verifier
worker under 1,000 verifications a second made a full collection about once a second,
each 56 to 91 ms with every request waiting (docs/architecture.md §2c).
:func:`settle_collector` is called once a process is ready to serve.
"""

from __future__ import annotations

import gc


def settle_collector(young: int | None = None) -> None:
    """Collect once and move every object alive now to the permanent generation
    (``gc.freeze``: never walked again, still freed by reference counting). Cyclic
    garbage made later is collected as before.

    ``young``: collect the youngest generation every ``young`` allocations (net of
    deallocations) instead of CPython's 700, so that fewer short-lived objects are
    promoted; a collection of it then walks up to that many objects (about 1 µs
    each, measured: 50,000 took 21 ms in the issuer and 33 to 63 ms in a verifier
    worker). None keeps the threshold.
    """
    gc.collect()
    gc.freeze()
    if young is not None:
        _, older, oldest = gc.get_threshold()
        gc.set_threshold(young, older, oldest)
