"""The threads GraphQL requests run on: writers for mutations, readers for the rest.

Mutations run on threads of their own, so that writes queued behind the database's one
writer never take the threads reads need: a read never waits behind a write flood.
"""
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

# Two writer threads overlap parsing with writing. More do not help even on PostgreSQL, which
# runs transactions side by side: they contend for one interpreter lock (measured: one
# process made 235-293 creates/s with 2 threads, 155-199/s with 8); more processes do help.
WRITER_THREADS = 2
# As many reads at once as Starlette's own thread pool allowed (anyio's default limit); a
# plain executor hands a request to a thread for less than `run_in_threadpool` does.
READER_THREADS = 40


@dataclass
class Workers:
    writers: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(
        WRITER_THREADS, thread_name_prefix="tasks-flowrun-writer"))
    readers: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(
        READER_THREADS, thread_name_prefix="tasks-flowrun-reader"))

    def shutdown(self) -> None:
        """Wait for the requests being served, then stop the threads."""
        self.writers.shutdown(wait=True)
        self.readers.shutdown(wait=True)
