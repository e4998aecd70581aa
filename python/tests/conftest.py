"""The hvd test modules' `world` fixture; and, in a rank (under mpirun, or started by
gloo_ranks.py with RANK/WORLD_SIZE), a rank whose tests failed leaves at once, without
MPI_Finalize or the runtime's shutdown.

Otherwise a failing rank's normal exit blocks in MPI_Finalize (or in the runtime's shutdown) while
another rank waits in a collective (or in hvd.init()) for it, and the job hangs until ctest's
timeout. Exiting at once makes mpirun (or gloo_ranks.py) stop the whole job right away, with the
failures already printed."""
import os
import sys

import pytest
from script_runner import in_a_rank


@pytest.fixture(scope="module")
def world():
    """(hvd.size(), hvd.rank()) after hvd.init(), for the tests of a module that runs as ranks
    (its `# hvd-matrix:` ctest entries); skipped when the module runs as one process."""
    if not in_a_rank():
        pytest.skip("runs as ranks (ctest python.hvd.<name>.<transport>.<ranks>)")
    import horovod.torch as hvd
    hvd.init()
    yield hvd.size(), hvd.rank()


def pytest_sessionfinish(session, exitstatus):
    if not in_a_rank() or exitstatus == 0:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.summary_failures()
        reporter.short_test_summary()
        # Exit status 5 (nothing ran): say why, e.g. a module-level skip (a missing module).
        for rep in reporter.stats.get("skipped", []):
            reporter.write_line("skipped: {} {}".format(rep.nodeid, rep.longrepr))
        reporter.write_line("exit status {} in a rank: leaving at once".format(int(exitstatus)))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(int(exitstatus))
