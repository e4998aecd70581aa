"""In a rank (under mpirun, or started by gloo_ranks.py with RANK/WORLD_SIZE): a rank whose tests
failed leaves at once, without MPI_Finalize or the runtime's shutdown.

Otherwise a failing rank's normal exit blocks in MPI_Finalize (or in the runtime's shutdown) while
another rank waits in a collective (or in hvd.init()) for it, and the job hangs until ctest's
timeout. Exiting at once makes mpirun (or gloo_ranks.py) stop the whole job right away, with the
failures already printed."""
import os
import sys


def _in_a_rank():
    return "OMPI_COMM_WORLD_SIZE" in os.environ or ("RANK" in os.environ
                                                    and "WORLD_SIZE" in os.environ)


def pytest_sessionfinish(session, exitstatus):
    if not _in_a_rank() or exitstatus == 0:
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
