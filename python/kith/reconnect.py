"""How long to wait between attempts to reach a daemon that went away."""
import random
from dataclasses import dataclass
from typing import Iterator, Optional


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter, bounded in total time.

    A daemon restarting takes about a second; an agent that outlives it (one
    not started with a parent-death signal, or a tool run by hand) waits with
    doubling pauses and gives up after `give_up_after` seconds.
    """

    initial: float = 0.05
    maximum: float = 2.0
    give_up_after: float = 30.0
    jitter: float = 0.2
    seed: Optional[int] = None

    def delays(self) -> Iterator[float]:
        """The pauses before each attempt, summing to at most `give_up_after`."""
        rng = random.Random(self.seed)
        delay, total = self.initial, 0.0
        while total < self.give_up_after:
            pause = min(delay * (1 + self.jitter * (2 * rng.random() - 1)), self.give_up_after - total)
            total += pause
            yield max(0.0, pause)
            delay = min(delay * 2, self.maximum)
