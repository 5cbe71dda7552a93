"""The test suite. Imported before conftest.py and everything it imports, hence the workaround here."""

import sys

# Upstream defect, contained here: pyspark 4.x's `pyspark.sql.connect.utils.check_dependencies` takes
# a `__main__` without `__spec__` and `__file__` for a doctest run and calls sys.exit(0) when Spark
# Connect's optional packages are missing. pytest-xdist's workers start that way (execnet), and GX
# imports pyspark's connect module, so a worker would exit while collecting: give its `__main__` a
# file. Canary: tests/test_packaging.py::test_pyspark_connect_still_exits_under_a_bare_main.
_main = sys.modules["__main__"]
if getattr(_main, "__spec__", None) is None and not hasattr(_main, "__file__"):
    _main.__file__ = "<pytest-xdist worker>"
