"""The failures table of a dataset: ``_failures.parquet``, the inputs that failed when last tried.

Its columns are ``path`` and ``reason``; dataset discovery skips it (its name starts with
``_``). A rerun tries the inputs it lists again, and an input that is then complete (or
tried) leaves it.
"""

from __future__ import annotations

from collections.abc import Sequence

from .._util.exceptions import OpenL3Error
from .parts import FAILURES_NAME, SETTINGS_KEY, PartFolder, unreadable

__all__ = ["FailureTable"]


class FailureTable:
    """The ``_failures.parquet`` table of a dataset: inputs that failed when last tried."""

    def __init__(self, folder: PartFolder):
        self.folder = folder
        self.path = folder.path_of(FAILURES_NAME)

    def read(self) -> dict[str, str]:
        """Return the recorded failures, path to reason; raise if the table is not ours or damaged."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        if FAILURES_NAME not in self.folder.names():
            return {}
        remedy = "Remove that table: the inputs that failed are then tried again by the next run."
        try:
            table = pq.read_table(self.path, filesystem=self.folder.fs)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise unreadable(self.path, exc, remedy) from exc
        columns = {"path": pa.string(), "reason": pa.string()}
        if dict(zip(table.column_names, table.schema.types, strict=True)) != columns:
            raise OpenL3Error(
                f"{self.path} is not an openl3 failures table (columns {table.column_names}, expected "
                "path and reason). openl3 keeps a dataset's failures under that name: move it away."
            )
        return dict(zip(table["path"].to_pylist(), table["reason"].to_pylist(), strict=True))

    def update(self, failed: Sequence[tuple[str, str]], tried: set[str]) -> None:
        """Replace the failures of the inputs ``tried`` (or now complete) by the new ``failed``.

        Call it under the dataset lock: shards share the table.
        """
        import pyarrow as pa

        old = self.read()
        failures = {p: r for p, r in old.items() if p not in tried}
        failures.update(dict(failed))
        if not failures and not old:
            return
        paths, reasons = list(failures), list(failures.values())
        table = pa.table({"path": pa.array(paths, pa.string()), "reason": pa.array(reasons, pa.string())})
        self.folder.write(table.replace_schema_metadata({SETTINGS_KEY: b"failures"}), FAILURES_NAME)
