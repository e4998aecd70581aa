#include "env/doctor.h"

#include <sched.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <thread>

#include "common/files.h"
#include "common/process.h"
#include "common/strings.h"
#include "env/blas.h"
#include "env/gpu.h"
#include "env/interpreter.h"

namespace trainyard::env {
namespace {

using Level = DoctorCheck::Level;

constexpr double kToolTimeoutSeconds = 10;

int CoresAvailable() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
  return static_cast<int>(std::thread::hardware_concurrency());
}

std::string Multiarch() {
  struct utsname u {};
  std::string machine = uname(&u) == 0 ? u.machine : "x86_64";
  return machine + "-linux-gnu";
}

std::string FirstLine(const std::string& text) {
  std::string t = Trim(text);
  return Trim(t.substr(0, t.find('\n')));
}

Result<CommandResult> RunTool(const std::vector<std::string>& argv) {
  CommandOptions options;
  options.timeout_seconds = kToolTimeoutSeconds;
  return RunCommand(argv, options);
}

// "<first line of `program --version`>" from its run, or an error description in *problem.
std::string VersionLine(const std::string& program, const Result<CommandResult>& run,
                        std::string* problem) {
  if (!run.ok()) {
    *problem = run.status().message();
    return "";
  }
  if (run->timed_out) {
    *problem = program + " --version did not finish within 10 s";
    return "";
  }
  std::string line = FirstLine(run->out.empty() ? run->err : run->out);
  if (run->exit_code != 0) {
    *problem = program + " --version exited with code " + std::to_string(run->exit_code) +
               (line.empty() ? "" : ": " + line);
  }
  return line;
}

// torchvision, which the hosted PyTorch estimator's image holds and Horovod's PyTorch examples
// import. Asked of the interpreter each time (its version from the package metadata, without
// importing it): the probe cache is keyed by torch, and torchvision is installed after it.
DoctorCheck TorchvisionCheck(const InterpreterInfo* info) {
  if (info == nullptr) {
    return {"torchvision", Level::kError, "not checked: no usable interpreter",
            "fix the interpreter first"};
  }
  if (!info->has_torch) {
    return {"torchvision", Level::kWarn, "not checked: the interpreter has no torch",
            "install torch first"};
  }
  CommandOptions options;
  options.cwd = "/";  // so that a ./torchvision folder cannot answer for the real package
  options.timeout_seconds = kToolTimeoutSeconds;
  auto run = RunCommand({info->path, "-c",
                         "import importlib.metadata as m, importlib.util as u\n"
                         "v = ''\n"
                         "if u.find_spec('torchvision') is not None:\n"
                         "    try:\n"
                         "        v = m.version('torchvision')\n"
                         "    except Exception:\n"
                         "        v = '(version unknown)'\n"
                         "print('TRAINYARD_TORCHVISION', v)\n"},
                        options);
  std::string version;
  bool answered = false;
  if (run.ok() && !run->timed_out && run->exit_code == 0) {
    for (const auto& line : Split(run->out, '\n')) {
      if (StartsWith(line, "TRAINYARD_TORCHVISION")) {
        answered = true;
        version = Trim(line.substr(std::string("TRAINYARD_TORCHVISION").size()));
      }
    }
  }
  if (!version.empty()) return {"torchvision", Level::kOk, version, ""};
  return {"torchvision", Level::kWarn,
          answered ? "not installed (scripts written for the hosted PyTorch estimator, and "
                     "Horovod's PyTorch examples, import it)"
                   : "could not ask " + info->path + " (" +
                         (run.ok() ? FirstLine(run->err.empty() ? run->out : run->err)
                                   : run.status().message()) +
                         ")",
          "Debian's /usr/bin/python3: apt-get install python3-torchvision (scripts/setup.sh "
          "installs it); another interpreter: pip install the torchvision release made for its "
          "torch " +
              info->torch_version};
}

DoctorCheck PythonCheck(const InterpreterInfo& info) {
  DoctorCheck c{"python", Level::kOk, info.python_version, ""};
  auto parts = Split(info.python_version, '.');
  int major = parts.size() > 0 ? std::atoi(parts[0].c_str()) : 0;
  int minor = parts.size() > 1 ? std::atoi(parts[1].c_str()) : 0;
  if (major < 3 || (major == 3 && minor < 8)) {
    c.level = Level::kWarn;
    c.fix =
        "use Python 3.8 or newer (Debian 12's /usr/bin/python3 is 3.11) with \"python:\" in "
        "the job file, --set python=/path, or TRAINYARD_PYTHON";
  }
  return c;
}

DoctorCheck BlasCheck(const InterpreterInfo* info) {
  BlasInfo system = DetectBlas();
  DoctorCheck c{"blas", Level::kOk, "libblas.so.3: " + DescribeBlas(system), ""};
  bool torch_slow = false;
  if (info != nullptr && info->has_torch) {
    c.value += "; torch loads " + info->blas;
    torch_slow = StartsWith(info->blas, "reference");
  }
  if (system.slow || torch_slow) {
    c.level = Level::kWarn;
    c.value += " (reference BLAS: matrix products about 9x slower)";
    c.fix =
        "apt-get install libopenblas0-pthread, or pick an installed optimized BLAS with "
        "update-alternatives --config libblas.so.3-" +
        Multiarch();
  } else if (system.kind == "none" && (info == nullptr || !info->has_torch)) {
    c.level = Level::kInfo;
  }
  return c;
}

DoctorCheck ThreadsCheck(const InterpreterInfo* info) {
  std::string value;
  if (info != nullptr && info->has_torch) {
    value = "torch uses " + std::to_string(info->torch_threads) + " thread(s) by default; ";
  }
  value += std::to_string(CoresAvailable()) + " core(s) available";
  if (const char* omp = std::getenv("OMP_NUM_THREADS")) {
    value += std::string("; OMP_NUM_THREADS=") + omp + " here";
  }
  return {"threads", Level::kInfo, value, ""};
}

DoctorCheck OpenMpiCheck() {
  const std::string fix =
      "apt-get install openmpi-bin libopenmpi-dev (needed for mpi targets and "
      "multi-process jobs)";
  std::string path = FindOnPath("mpirun");
  if (path.empty()) return {"openmpi", Level::kWarn, "mpirun not found on PATH", fix};
  std::string problem;
  std::string line = VersionLine(path, RunTool({path, "--version"}), &problem);
  if (!problem.empty()) return {"openmpi", Level::kWarn, path + ": " + problem, fix};
  if (line.find("Open MPI") == std::string::npos) {
    return {"openmpi", Level::kWarn, line + " (" + path + ") is not Open MPI",
            fix + ", and put Open MPI's mpirun first on PATH"};
  }
  return {"openmpi", Level::kOk, line + " (" + path + ")", ""};
}

// The client (sbatch, scontrol) and a controller that answers are separate questions: a machine
// may have the client installed without any Slurm configuration (every client command then fails
// at once: "fatal: Could not establish a configuration source"), or with a configuration whose
// slurmctld does not answer (`scontrol ping` exits 1: "Slurmctld(primary) at HOST is DOWN").
DoctorCheck SlurmCheck() {
  std::string path = FindOnPath("sbatch");
  if (path.empty()) {
    return {"slurm", Level::kInfo, "sbatch not found (only needed for slurm targets)",
            "apt-get install slurm-client to submit jobs to a Slurm cluster"};
  }
  auto version = RunTool({path, "--version"});
  if (version.ok() && !version->timed_out && version->exit_code != 0 &&
      version->err.find("Could not establish a configuration source") != std::string::npos) {
    return {"slurm", Level::kInfo,
            "client installed (" + path +
                "), no controller reachable: no Slurm configuration here (only needed for slurm "
                "targets)",
            "to use a cluster, copy its slurm.conf to /etc/slurm/ (or point SLURM_CONF at it)"};
  }
  std::string problem;
  std::string line = VersionLine(path, version, &problem);
  if (!problem.empty()) {
    return {"slurm", Level::kWarn, path + ": " + problem,
            "check the Slurm client installation (apt-get install slurm-client)"};
  }
  // The client works and has a configuration: does its controller answer?
  std::string scontrol = FindOnPath("scontrol");
  if (scontrol.empty()) return {"slurm", Level::kOk, line + " (" + path + ")", ""};
  auto ping = RunTool({scontrol, "ping"});
  std::string answer;
  if (!ping.ok()) {
    answer = ping.status().message();
  } else if (ping->timed_out) {
    answer = "scontrol ping did not answer within 10 s";
  } else {
    answer = FirstLine(ping->out.empty() ? ping->err : ping->out);
    if (ping->exit_code == 0) return {"slurm", Level::kOk, line + " (" + path + "), " + answer, ""};
  }
  return {"slurm", Level::kWarn,
          line + " client installed (" + path + "), no controller reachable: " + answer,
          "start slurmctld, or point SLURM_CONF at the slurm.conf of a cluster whose controller "
          "is up (only needed for slurm targets)"};
}

DoctorCheck GpuCheck(const InterpreterInfo* info) {
  int gpus = CountGpus();
  const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
  std::string visible_note =
      visible != nullptr ? std::string(" (CUDA_VISIBLE_DEVICES=") + visible + ")" : "";
  if (gpus == 0) {
    return {"gpu", Level::kInfo, "no NVIDIA GPU visible" + visible_note + "; CPU training only",
            ""};
  }
  std::string value = std::to_string(gpus) + " NVIDIA GPU(s) visible" + visible_note;
  if (info == nullptr || !info->has_torch) {
    return {"gpu", Level::kInfo, value + "; torch not available to check CUDA", ""};
  }
  if (!info->cuda_available) {
    return {"gpu", Level::kWarn, value + ", but torch " + info->torch_version + " cannot use CUDA",
            "use an interpreter with a CUDA build of PyTorch (\"python:\" in the job file, "
            "--set python=/path, or TRAINYARD_PYTHON); Debian's python3-torch is CPU-only"};
  }
  return {"gpu", Level::kOk,
          value + "; torch sees " + std::to_string(info->cuda_device_count) + " CUDA device(s)",
          ""};
}

DoctorCheck WorkspaceCheck(const DoctorInputs& in) {
  std::string where = in.workspace_dir + " (from " + in.workspace_source + ")";
  const std::string choose = "choose another workspace with --workspace or TRAINYARD_WORKSPACE";
  if (in.schema_version < 0) {
    if (PathExists(in.workspace_dir) && !IsDirectory(in.workspace_dir)) {
      return {"workspace", Level::kError, where + " exists and is not a directory", choose};
    }
    return {"workspace", Level::kInfo, where + ", not created yet (created by the first run)", ""};
  }
  if (access(in.workspace_dir.c_str(), W_OK) != 0) {
    return {"workspace", Level::kError, where + " is not writable", choose};
  }
  std::string schema = "schema v" + std::to_string(in.schema_version) + ", this binary supports v" +
                       std::to_string(in.expected_schema_version);
  if (in.schema_version > in.expected_schema_version) {
    return {"workspace", Level::kWarn, where + ", " + schema + " (written by a newer trainyard)",
            "upgrade trainyard, or " + choose};
  }
  return {"workspace", Level::kOk, where + ", " + schema, ""};
}

}  // namespace

const char* DoctorLevelName(DoctorCheck::Level level) {
  switch (level) {
    case Level::kOk: return "ok";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
  }
  return "?";
}

std::vector<DoctorCheck> RunDoctor(const DoctorInputs& inputs) {
  std::vector<DoctorCheck> checks;
  auto resolved = ResolveInterpreter(inputs.python_requested, inputs.cache_dir);
  const InterpreterInfo* info = resolved.ok() ? &resolved.value() : nullptr;
  if (info != nullptr) {
    checks.push_back({"interpreter", Level::kOk, info->path + " (" + info->how + ")", ""});
    checks.push_back(PythonCheck(*info));
    if (info->has_torch) {
      checks.push_back({"torch", Level::kOk, info->torch_version, ""});
    } else {
      checks.push_back({"torch", Level::kError, "cannot import torch: " + info->torch_error,
                        TorchInstallAdvice()});
    }
  } else {
    const std::string skipped = "not checked: no usable interpreter";
    checks.push_back({"interpreter", Level::kError, resolved.status().message(),
                      "name an existing interpreter with \"python:\" in the job file, "
                      "--set python=/path, or TRAINYARD_PYTHON (Debian: apt-get install "
                      "python3-torch provides /usr/bin/python3 with PyTorch)"});
    checks.push_back({"python", Level::kError, skipped, "fix the interpreter first"});
    checks.push_back({"torch", Level::kError, skipped, "fix the interpreter first"});
  }
  checks.push_back(TorchvisionCheck(info));
  checks.push_back(BlasCheck(info));
  checks.push_back(ThreadsCheck(info));
  checks.push_back(OpenMpiCheck());
  checks.push_back(SlurmCheck());
  checks.push_back(GpuCheck(info));
  checks.push_back(WorkspaceCheck(inputs));
  return checks;
}

}  // namespace trainyard::env
