# Runs collective_mpi_test --die under mpirun: rank 1 exits in the middle of the job. Passes when
# the job ends promptly with a non-zero status (the survivors' pending operation failed, or mpirun
# tore the job down) instead of hanging.
string(TIMESTAMP start "%s")
execute_process(
  COMMAND ${MPIEXEC} --allow-run-as-root --oversubscribe --bind-to none -np 3 ${PROGRAM} --die
  RESULT_VARIABLE rc
  OUTPUT_VARIABLE out
  ERROR_VARIABLE err
  TIMEOUT 45)
string(TIMESTAMP end "%s")
math(EXPR elapsed "${end} - ${start}")
message("exit: ${rc}, ${elapsed} s\n${out}\n${err}")
if(rc EQUAL 0)
  message(FATAL_ERROR "the job succeeded although rank 1 died")
endif()
if(rc MATCHES "timeout|Process terminated")
  message(FATAL_ERROR "the job hung after rank 1 died")
endif()
if(elapsed GREATER 30)
  message(FATAL_ERROR "the job took ${elapsed} s to fail after rank 1 died")
endif()
