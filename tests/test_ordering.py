"""The seq-ordering object the hub and every connection use: table-driven, with no
database, no socket and no event loop."""

from dataclasses import dataclass, field

import pytest

from chat.realtime.ordering import (
    READ_CHUNK,
    Decision,
    Read,
    SeqOrder,
)


def f(seq: int) -> str:
    return f"m{seq}"


@dataclass
class Driver:
    """Carries out decisions like the I/O layer: 'writes' frames, answers reads from a
    fake database (seq -> frame; absent seqs are deleted messages)."""

    order: SeqOrder
    db: dict[int, str] = field(default_factory=dict)
    out: list[int] = field(default_factory=list)
    reads: list[Read] = field(default_factory=list)
    fail_write_at: int | None = None

    def run(self, decision: Decision) -> None:
        while True:
            for seq, frame in decision.send:
                if frame is not None:
                    if seq == self.fail_write_at:
                        self.fail_write_at = None
                        return  # the write failed: the caller stops
                    assert frame == f(seq)
                    self.out.append(seq)
                self.order.written(seq)
            if decision.read is None:
                return
            read = decision.read
            self.reads.append(read)
            rows = [(s, self.db[s]) for s in sorted(self.db) if read.after < s <= read.up_to]
            decision = self.order.filled(read, rows[:READ_CHUNK])


def started(delivered: int = 0, **kwargs: int) -> Driver:
    driver = Driver(SeqOrder(**kwargs))
    driver.run(driver.order.start(delivered))
    return driver


@pytest.mark.parametrize(
    ("arrivals", "sent", "held_read"),
    [
        ([1, 2, 3], [1, 2, 3], None),  # in order: straight through
        ([2, 1, 3], [1, 2, 3], None),  # reordered: held until the gap closes
        ([1, 1, 2, 1], [1, 2], None),  # duplicates dropped
        ([3, 2], [], Read(0, 1)),  # a gap nothing closed yet: read (0, 1]
        ([1, 4, 3], [1], Read(1, 2)),
        ([5, 3, 4], [], Read(0, 2)),
    ],
)
def test_events_are_sent_in_seq_order_each_once(
    arrivals: list[int], sent: list[int], held_read: Read | None
) -> None:
    driver = Driver(SeqOrder())
    driver.order.start(0)
    last = Decision()
    for seq in arrivals:
        last = driver.order.offer(seq, f(seq))
        for s, frame in last.send:
            if frame is not None:
                driver.out.append(s)
            driver.order.written(s)
    assert driver.out == sent
    assert last.read == held_read
    assert driver.order.gap() == held_read


@pytest.mark.parametrize(
    ("db", "arrivals", "sent", "reads"),
    [
        # seqs 1 and 2 lost, 3 arrives: read (0, 2], then 3
        ({1: f(1), 2: f(2), 3: f(3)}, [3], [1, 2, 3], [Read(0, 2)]),
        # seq 2 was deleted: the read finds only 1, and 2 is a hole
        ({1: f(1), 3: f(3)}, [3], [1, 3], [Read(0, 2)]),
        # everything missing was deleted
        ({4: f(4)}, [4], [4], [Read(0, 3)]),
        # two gaps: each read in turn
        ({s: f(s) for s in range(1, 7)}, [1, 3, 6], [1, 2, 3, 4, 5, 6], [Read(1, 2), Read(3, 5)]),
    ],
)
def test_gaps_are_read_from_the_database_then_later_events_follow(
    db: dict[int, str], arrivals: list[int], sent: list[int], reads: list[Read]
) -> None:
    driver = started()
    driver.db = db
    for seq in arrivals:
        driver.run(driver.order.offer(seq, f(seq)))
    assert driver.out == sent
    assert driver.reads == reads
    assert driver.order.delivered == sent[-1]


def test_a_gap_bigger_than_one_chunk_takes_several_reads() -> None:
    total = 2 * READ_CHUNK + 7
    driver = started()
    driver.db = {s: f(s) for s in range(1, total + 1) if s % 10}  # every tenth deleted
    driver.run(driver.order.offer(total + 1, f(total + 1)))
    assert driver.out == [s for s in range(1, total + 2) if s % 10 or s == total + 1]
    # 907 rows: a full chunk (up to seq 555, the 500th), then the rest in a second read
    assert driver.reads == [Read(0, total), Read(555, total)]


@pytest.mark.parametrize(
    ("delivered", "early", "db", "sent"),
    [
        (5, [6, 7], {}, [6, 7]),  # events after the hello's position
        (5, [4, 5, 6], {}, [6]),  # the overlap with the hello is dropped
        (5, [7], {6: f(6), 7: f(7)}, [6, 7]),  # an early gap is read
        (0, [], {}, []),
    ],
)
def test_early_events_are_kept_until_the_start_and_deduplicated(
    delivered: int, early: list[int], db: dict[int, str], sent: list[int]
) -> None:
    driver = Driver(SeqOrder(), db=db)
    for seq in early:
        assert driver.order.offer(seq, f(seq)) == Decision()  # nothing before the hello
    driver.run(driver.order.start(delivered))
    assert driver.out == sent


def test_early_events_past_the_bound_are_dropped_and_read_back() -> None:
    driver = Driver(SeqOrder(early_limit=3), db={s: f(s) for s in range(1, 11)})
    for seq in range(1, 11):
        driver.order.offer(seq, f(seq))
    driver.run(driver.order.start(0))
    assert driver.out == [1, 2, 3]  # only three were kept
    driver.run(driver.order.offer(11, f(11)))  # the next event reveals the gap
    assert driver.out == list(range(1, 12))
    assert driver.reads == [Read(3, 10)]


@pytest.mark.parametrize(
    ("after", "backlog", "through", "early", "sent"),
    [
        (2, [3, 4, 5], 5, [5, 6], [3, 4, 5, 6]),  # backlog, then live, no duplicate
        (2, [3, 5], 6, [7], [3, 5, 7]),  # 4 and 6 deleted: holes, no read
        (2, [], 4, [5], [5]),  # nothing after `after` left
    ],
)
def test_resume_backlog_then_live_with_no_gap_or_duplicate(
    after: int, backlog: list[int], through: int, early: list[int], sent: list[int]
) -> None:
    driver = Driver(SeqOrder())
    for seq in early:
        driver.order.offer(seq, f(seq))
    driver.run(driver.order.start(after, [(s, f(s)) for s in backlog], through))
    assert driver.out == sent
    assert driver.reads == []
    assert driver.order.delivered == max(sent[-1], through)


def test_position_moves_only_after_a_successful_write() -> None:
    driver = started()
    driver.db = {s: f(s) for s in range(1, 5)}
    driver.fail_write_at = 2
    driver.run(driver.order.offer(1, f(1)))
    driver.run(driver.order.offer(2, f(2)))  # this write fails
    assert (driver.out, driver.order.delivered) == ([1], 1)
    driver.run(driver.order.offer(3, f(3)))  # 2 is read back from the database
    assert driver.out == [1, 2, 3]
    assert driver.reads == [Read(1, 2)]


def test_trailing_holes_move_the_position_only_once_written() -> None:
    order = SeqOrder()
    order.start(0)
    decision = order.filled(Read(0, 5), [(1, f(1))])
    assert decision.send == ((1, f(1)), (5, None))
    assert order.delivered == 0  # nothing recorded until the caller says so
    for seq, _ in decision.send:
        order.written(seq)
    assert order.delivered == 5


@pytest.mark.parametrize(
    ("delivered", "held", "up_to", "read"),
    [
        (3, [], 7, Read(3, 7)),
        (3, [], 3, None),  # already there
        (3, [], 2, None),
        (3, [6], 9, Read(3, 5)),  # up to the held event; it follows the read
    ],
)
def test_catch_up_reads_up_to_a_committed_seq(
    delivered: int, held: list[int], up_to: int, read: Read | None
) -> None:
    order = SeqOrder()
    order.start(delivered)
    for seq in held:
        order.offer(seq, f(seq))
    assert order.catch_up(up_to) == read


def test_nothing_is_read_for_a_stream_not_started() -> None:
    order = SeqOrder()
    order.offer(5, f(5))
    assert (order.catch_up(9), order.gap()) == (None, None)


def test_flush_hands_out_everything_held_when_the_gap_cannot_be_read() -> None:
    order = SeqOrder()
    order.start(1)
    order.offer(5, f(5))
    order.offer(3, f(3))
    assert order.flush().send == ((3, f(3)), (5, f(5)))
    assert order.gap() is None


def test_held_events_are_bounded() -> None:
    driver = Driver(SeqOrder(held_limit=2), db={s: f(s) for s in range(1, 6)})
    driver.order.start(0)
    for seq in (3, 4, 5):
        driver.order.offer(seq, f(seq))
    assert driver.order.gap() == Read(0, 2)
    driver.run(driver.order.filled(Read(0, 2), [(1, f(1)), (2, f(2))]))
    assert driver.out == [1, 2, 3, 4]
    assert driver.order.gap() is None  # 5 was dropped, not held
    assert driver.order.catch_up(5) == Read(4, 5)  # the periodic sync brings it
    driver.run(driver.order.filled(Read(4, 5), [(5, f(5))]))
    assert driver.out == [1, 2, 3, 4, 5]


def test_start_twice_is_a_bug() -> None:
    order = SeqOrder()
    order.start(0)
    with pytest.raises(RuntimeError):
        order.start(1)


@pytest.mark.parametrize(
    ("events", "seq", "expected"),
    [
        ([], 1, True),  # the next one of an idle stream
        ([], 2, False),  # past a gap
        ([3], 2, False),  # something is held: the ordinary path releases both
        ([1], 1, False),  # already delivered
    ],
)
def test_next_in_line_is_only_the_next_seq_of_an_idle_stream(
    events: list[int], seq: int, expected: bool
) -> None:
    order = SeqOrder()
    driver = Driver(order)
    driver.run(order.start(0))
    for event in events:
        driver.run(order.offer(event, f(event)))
    assert order.next_in_line(seq) is expected


def test_next_in_line_is_false_before_the_start() -> None:
    assert SeqOrder().next_in_line(1) is False
