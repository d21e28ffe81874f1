"""The adapter for what `daphne chatsite.asgi:application` needs beyond stock daphne,
and the only package that reaches into daphne's, autobahn's and Twisted's internals.

One module per patch (close_codes, no_delay, frame_limits, send_after_close, raw_send,
sigterm, serving, backlog, admission, lazy_debug), each stating what it relies on next to it
(needs.py); checks.py checks those by introspection, as a Django system check
(chat.W101-W110, `manage.py check --deploy`) and at start, where a patch whose needs
are missing is skipped with a warning and that part runs as stock daphne. Nothing
happens at import: asgi.py calls start().
"""

import gc
import sys
from collections.abc import Sequence

from django.conf import settings

from chatsite.daphne_adapter.serving import Hook


def start(*, while_serving: Sequence[Hook] = ()) -> frozenset[str]:
    """Apply every patch whose internals check out and run each (start, stop) of
    `while_serving` while the reactor serves. Returns the names of the patches applied.

    A no-op where daphne.server was never imported (another ASGI server). daphne's app
    imports it in every Django process, so wherever chatsite.asgi is imported (Channels'
    in-process tests too) the patches apply; only a running reactor ever calls them."""
    if "daphne.server" not in sys.modules:
        return frozenset()
    # The database thread (channels' database_sync_to_async) needs the GIL after every
    # query while the loop thread fans out; with the default 5 ms switch interval each
    # query waits up to 5 ms for it, and ten of them per message stall every save.
    sys.setswitchinterval(settings.CHAT_GIL_SWITCH_INTERVAL_SECONDS)
    collector_tuned(settings.CHAT_GC_GEN0_THRESHOLD)
    from chatsite.daphne_adapter import checks, internals

    return checks.install(internals.load(), while_serving)


# The older generations keep Python's thresholds (a collection of generation 1 every 10
# of generation 0, of generation 2 every 10 of those, if enough is pending): a closed
# socket's objects have aged into generation 2 while it was open, and only a full
# collection frees their cycles. At (20, 20) the full soak (tests/test_soak.py) grew by
# 18.6 MiB over 20,000 connect cycles, against its 20 MiB bound.
GC_OLDER_THRESHOLDS = (10, 10)


def collector_tuned(gen0: int) -> None:
    """A serving process holds tens of thousands of long-lived objects (connections,
    streams, their locks and orders) and allocates many short-lived ones per connect and
    frame: with Python's threshold of 700 allocations the collector ran so often that
    it was ~17 % of a connect's CPU (#28, bench/connect_cost.py). Everything loaded at
    start is frozen (never scanned again: Django, the URL and template machinery), and
    generation 0 is collected every `gen0` allocations. 0: Python's defaults."""
    if gen0 <= 0:
        return
    gc.collect()
    gc.freeze()
    gc.set_threshold(gen0, *GC_OLDER_THRESHOLDS)
