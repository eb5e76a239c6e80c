"""The threads GraphQL mutations run on (reads run on Starlette's thread pool).

Mutations run on threads of their own, so that writes queued behind the database's one
writer never take the threads reads need: a read never waits behind a write flood.
"""
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

# Two writer threads overlap parsing with writing. More do not help even on PostgreSQL, which
# runs transactions side by side: they contend for one interpreter lock (measured: one
# process made 235-293 creates/s with 2 threads, 155-199/s with 8); more processes do help.
WRITER_THREADS = 2


@dataclass
class Workers:
    writers: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(
        WRITER_THREADS, thread_name_prefix="tasks-flowrun-writer"))

    def shutdown(self) -> None:
        """Wait for the requests being served, then stop the threads."""
        self.writers.shutdown(wait=True)
