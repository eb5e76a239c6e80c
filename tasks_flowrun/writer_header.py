"""The header a flow process of `tasks-flowrun agent` sends with its state changes: a token
of its own, new in every process.

When the answer to a Running state is lost (the backend stopped after committing it, a
connection dropped), Prefect's client sends the same state again, with the same version. By
then the run is at the next version, and version locking would refuse the retry as if
another process had taken the run: the task would be left Running and never executed.
With this header the backend tells the sender's own retry (the Running state at the version
after the one sent was written with the same token) from another process, and answers it
as done. Backends that do not know the header ignore it.
"""
import uuid

WRITER_HEADER = "X-Tasks-Flowrun-Writer"


def new_writer_token() -> str:
    """A token no other process has."""
    return uuid.uuid4().hex
