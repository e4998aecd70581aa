// trainyard rank-exec -- PROGRAM ARGS...   (internal: the rank shim under mpirun / srun)
//
// Sets torchrun's per-rank variables from the launcher's own (Open MPI's OMPI_COMM_WORLD_*, PMIx,
// or Slurm's SLURM_*) and runs the program, so every rank sees the same contract under every
// backend: RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, GROUP_RANK, NODE_RANK. Under mpirun,
// trainyard maps ranks to nodes in blocks of TRAINYARD_PROCS_PER_NODE (also on one machine, where
// it simulates nodes), so node and local ranks follow from it; TRAINYARD_GPU_PER_RANK=1 gives
// each rank the GPU of its local rank (CUDA_VISIBLE_DEVICES).
//
// It also relays the program's output whole lines at a time (one write per line): the launcher
// forwards output in the chunks it reads, and a line written in pieces (Python's unbuffered print
// writes the text and the newline separately) would otherwise be interleaved with other ranks'
// output. Signals are passed on; the shim exits as the program did.
//
// It dies with its launcher and takes the rank along: mpirun (or orted on a remote host) that is
// SIGKILLed cannot stop its children, so the shim asks for a signal of its own (a real-time one,
// never forwarded) when its parent dies (PR_SET_PDEATHSIG, then re-checks getppid() for a parent
// that died before the call), and also watches getppid() twice a second. The death signal follows
// the parent *thread*, so it may also come while the parent lives: it counts only when getppid()
// changed. Orphaned, it sends SIGTERM to every process
// under it, waits kOrphanGraceMs, then SIGKILLs what is left. It is a child subreaper, so
// processes the rank started (even double-forked ones) are under it to be found.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "cli/cli.h"
#include "common/process.h"

namespace trainyard::cli {

namespace {

const char* First(std::initializer_list<const char*> names) {
  for (const char* n : names) {
    if (const char* v = std::getenv(n); v && *v) return v;
  }
  return nullptr;
}

constexpr int kOrphanGraceMs = 2000;
constexpr int kParentCheckMs = 500;

pid_t g_child = -1;
pid_t g_parent = -1;
volatile sig_atomic_t g_orphaned = 0;

bool ParentGone() { return getppid() != g_parent; }

void ForwardSignal(int sig) {
  if (g_child > 0) kill(g_child, sig);
}

// PR_SET_PDEATHSIG's signal: the main loop stops everything when the parent is really gone.
void ParentDied(int /*sig*/) {
  if (ParentGone()) g_orphaned = 1;
}

// Reaps every exited child without blocking (as a subreaper, also orphans of the rank's
// processes); records the rank's own status.
void ReapAll(int* child_status, bool* child_done) {
  while (true) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    if (pid == g_child) {
      *child_status = status;
      *child_done = true;
    }
  }
}

// The launcher is gone: stop everything under this shim (SIGTERM, grace, SIGKILL until none).
void StopEverything(int* child_status, bool* child_done) {
  pid_t self = getpid();
  for (pid_t pid : Descendants(self)) kill(pid, SIGTERM);
  for (int waited = 0; waited < kOrphanGraceMs; waited += 50) {
    ReapAll(child_status, child_done);
    bool any = false;
    for (pid_t pid : Descendants(self)) any |= ProcessAlive(pid);
    if (!any) break;
    usleep(50'000);
  }
  for (int round = 0; round < 100; ++round) {
    auto left = Descendants(self);
    for (pid_t pid : left) kill(pid, SIGKILL);
    usleep(20'000);
    ReapAll(child_status, child_done);
    if (left.empty()) break;
  }
}

// Writes all of `data` to `fd` (one write() in the normal case).
void WriteAll(int fd, const char* data, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    data += n;
    len -= static_cast<size_t>(n);
  }
}

int RelayLines(const std::vector<std::string>& argv) {
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
    std::perror("trainyard rank-exec: pipe");
    return 127;
  }
  struct sigaction sa {};
  sa.sa_handler = ForwardSignal;
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2}) sigaction(sig, &sa, nullptr);
  SpawnOptions spawn;
  spawn.stdin_fd = 0;
  spawn.stdout_fd = out[1];
  spawn.stderr_fd = err[1];
  spawn.die_with_parent = true;  // the rank goes when its relay does (mpirun killed it)
  Result<pid_t> child = Spawn(argv, CurrentEnvironment(), spawn);
  if (!child.ok()) {
    std::fprintf(stderr, "trainyard rank-exec: %s\n", child.status().message().c_str());
    return 127;
  }
  g_child = *child;
  close(out[1]);
  close(err[1]);

  // Its launcher may be gone (and the pipe to it broken): writes then fail instead of killing
  // the shim before it has stopped the rank.
  signal(SIGPIPE, SIG_IGN);

  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  std::string partial[2];
  int open_fds = 2;
  char buf[65536];
  int status = 0;
  bool child_done = false;
  while (open_fds > 0) {
    if (g_orphaned || ParentGone()) {
      StopEverything(&status, &child_done);
      break;
    }
    if (poll(fds, 2, kParentCheckMs) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
        continue;
      }
      std::string& p = partial[i];
      p.append(buf, static_cast<size_t>(n));
      size_t last_nl = p.rfind('\n');
      if (last_nl != std::string::npos) {
        WriteAll(i + 1, p.data(), last_nl + 1);
        p.erase(0, last_nl + 1);
      } else if (p.size() > 65536) {
        WriteAll(i + 1, p.data(), p.size());
        p.clear();
      }
    }
  }
  for (int i = 0; i < 2; ++i) {
    if (!partial[i].empty()) WriteAll(i + 1, partial[i].data(), partial[i].size());
  }
  if (g_orphaned || ParentGone()) StopEverything(&status, &child_done);
  for (auto& fd : fds) {
    if (fd.fd >= 0) close(fd.fd);
  }
  // The rank's own status (it may have closed its output and still run), reaping whatever else
  // ends meanwhile.
  while (!child_done) {
    ReapAll(&status, &child_done);
    if (child_done) break;
    if (g_orphaned || ParentGone()) {
      StopEverything(&status, &child_done);
      if (!child_done) WaitPid(g_child, &status);
      break;
    }
    usleep(50'000);
  }
  if (WIFSIGNALED(status)) {
    // Die the same way, so the launcher reports the signal.
    signal(WTERMSIG(status), SIG_DFL);
    kill(getpid(), WTERMSIG(status));
    return 128 + WTERMSIG(status);
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

int RankExec(const std::vector<std::string>& argv) {
  if (argv.empty()) {
    std::fprintf(stderr, "trainyard rank-exec: no program given\n");
    return kExitUsage;
  }
  g_parent = getppid();
  struct sigaction sa {};
  sa.sa_handler = ParentDied;
  const int death_signal = SIGRTMIN + 1;
  sigaction(death_signal, &sa, nullptr);
  prctl(PR_SET_PDEATHSIG, death_signal);
  if (g_parent == 1 || ParentGone()) {
    std::fprintf(stderr, "trainyard rank-exec: the launcher is gone; not starting the rank\n");
    return 1;
  }
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  const char* rank = First({"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID"});
  const char* size = First({"OMPI_COMM_WORLD_SIZE", "SLURM_NTASKS"});
  const char* local = First({"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID"});
  const char* local_size = First({"OMPI_COMM_WORLD_LOCAL_SIZE", "SLURM_NTASKS_PER_NODE"});
  // (Open MPI's OMPI_COMM_WORLD_NODE_RANK is a rank within the node, not the node's index; the
  // node index comes from TRAINYARD_PROCS_PER_NODE below.)
  const char* node = First({"SLURM_NODEID"});
  if (rank) setenv("RANK", rank, 1);
  if (size) setenv("WORLD_SIZE", size, 1);
  if (local) setenv("LOCAL_RANK", local, 1);
  if (local_size) setenv("LOCAL_WORLD_SIZE", local_size, 1);
  if (node) {
    setenv("NODE_RANK", node, 1);
    setenv("GROUP_RANK", node, 1);
  }
  if (const char* ppn = std::getenv("TRAINYARD_PROCS_PER_NODE"); ppn && rank) {
    int per = std::atoi(ppn), r = std::atoi(rank);
    if (per > 0) {
      setenv("LOCAL_RANK", std::to_string(r % per).c_str(), 1);
      setenv("LOCAL_WORLD_SIZE", ppn, 1);
      setenv("NODE_RANK", std::to_string(r / per).c_str(), 1);
      setenv("GROUP_RANK", std::to_string(r / per).c_str(), 1);
    }
  }
  if (const char* g = std::getenv("TRAINYARD_GPU_PER_RANK"); g && std::string(g) == "1") {
    if (const char* lr = std::getenv("LOCAL_RANK")) setenv("CUDA_VISIBLE_DEVICES", lr, 1);
  }
  return RelayLines(argv);
}

}  // namespace

void RegisterRankExec(CLI::App& app, Context& ctx) {
  CLI::App* cmd = app.add_subcommand("rank-exec", "(internal) rank shim under mpirun/srun");
  cmd->group("");
  // The exit code is the program's (or 127 when it could not be started).
  OnRun(cmd, ctx, [&ctx]() -> Result<int> { return RankExec(ctx.trailing_args); });
}

}  // namespace trainyard::cli
