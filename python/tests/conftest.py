"""Under mpirun: a rank whose tests failed leaves at once, without MPI_Finalize.

Otherwise a failing rank's normal exit blocks in MPI_Finalize while another rank waits in a
collective (or in hvd.init()) for it, and the job hangs until ctest's timeout. Exiting without
finalizing makes mpirun stop the whole job right away, with the failures already printed."""
import os
import sys


def pytest_sessionfinish(session, exitstatus):
    if "OMPI_COMM_WORLD_SIZE" not in os.environ or exitstatus == 0:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.summary_failures()
        reporter.short_test_summary()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(int(exitstatus))
