#include "env/image.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <system_error>

#include "common/process.h"
#include "common/strings.h"

namespace trainyard::env {

namespace fs = std::filesystem;

namespace {

std::string Quoted(const std::string& s) { return "\"" + s + "\""; }

std::string FirstLine(const std::string& text) {
  std::string t = Trim(text);
  auto nl = t.find('\n');
  return nl == std::string::npos ? t : t.substr(0, nl);
}

// The image's ID and ENV from `podman image inspect`.
Result<Image> Inspect(const std::string& engine, const std::string& ref, const std::string& name) {
  ASSIGN_OR_RETURN(CommandResult r,
                   RunCommand({engine, "image", "inspect", ref}, {.timeout_seconds = 60}));
  if (r.exit_code != 0) {
    return FailedPrecondition(
        "environment.image: image " + Quoted(name) + " is not in podman's local storage (" +
        engine + " image inspect: " + FirstLine(r.err) +
        "); trainyard never pulls: put it there first (podman pull " + name +
        ", podman load -i FILE.tar, or podman import ROOTFS.tar " + name + ")");
  }
  Image image{engine, name, "", {}};
  try {
    auto j = nlohmann::json::parse(r.out);
    if (j.is_array() && !j.empty()) j = j[0];
    image.id = j.at("Id").get<std::string>();
    auto config = j.find("Config");
    if (config != j.end() && config->contains("Env") && (*config)["Env"].is_array()) {
      for (const auto& kv : (*config)["Env"]) {
        std::string s = kv.get<std::string>();
        auto eq = s.find('=');
        if (eq != std::string::npos) image.env.emplace_back(s.substr(0, eq), s.substr(eq + 1));
      }
    }
  } catch (const nlohmann::json::exception& e) {
    return Internal("podman image inspect " + name + ": unexpected output (" + e.what() + ")");
  }
  return image;
}

}  // namespace

std::string PodmanExecutable() {
  if (const char* v = std::getenv("TRAINYARD_PODMAN"); v != nullptr) {
    return std::string(v).empty() ? "" : FindOnPath(v);
  }
  return FindOnPath("podman");
}

std::string BwrapExecutable() { return FindOnPath("bwrap"); }

Status CheckImageTools(const std::string& image) {
  if (PodmanExecutable().empty()) {
    std::string docker = FindOnPath("docker").empty()
                             ? ""
                             : " (Docker's images are not read: copy one with docker save " +
                                   image + " | podman load)";
    return FailedPrecondition(
        "environment.image: running image " + Quoted(image) +
        " needs the podman engine (its storage unpacks the image), which is not installed"
        " (Debian: apt-get install podman bubblewrap)" +
        docker);
  }
  if (BwrapExecutable().empty()) {
    return FailedPrecondition("environment.image: running image " + Quoted(image) +
                              " needs bubblewrap (bwrap), which is not on PATH (Debian: apt-get "
                              "install bubblewrap)");
  }
  if (geteuid() != 0) {
    return FailedPrecondition("environment.image: running image " + Quoted(image) +
                              " needs podman image mount, which trainyard runs as root only; "
                              "run the workspace's trainyard as root");
  }
  return Status::Ok();
}

Result<Image> FindLocalImage(const std::string& name) {
  RETURN_IF_ERROR(CheckImageTools(name));
  return Inspect(PodmanExecutable(), name, name);
}

Result<Image> BuildLocalImage(const std::string& context, const std::string& dockerfile) {
  const std::string name = "build " + context;
  RETURN_IF_ERROR(CheckImageTools(name));
  std::error_code ec;
  if (!fs::is_regular_file(fs::path(context) / dockerfile, ec)) {
    return FailedPrecondition("environment.build: no Dockerfile at " +
                              (fs::path(context) / dockerfile).string());
  }
  const std::string engine = PodmanExecutable();
  ASSIGN_OR_RETURN(CommandResult r, RunCommand({engine, "build", "--pull=never", "--quiet",
                                                "--file", dockerfile, "."},
                                               {.cwd = context, .timeout_seconds = 600}));
  if (r.exit_code != 0) {
    std::string err = Trim(r.err);
    if (err.size() > 2000) err = "..." + err.substr(err.size() - 2000);
    return FailedPrecondition("environment.build: podman build --pull=never in " + context +
                              " failed (exit " + std::to_string(r.exit_code) +
                              "; its FROM must be in podman's local storage, and RUN steps need "
                              "a runtime that can start containers here): " +
                              err);
  }
  std::string id = FirstLine(r.out);
  if (id.empty()) return Internal("podman build " + context + " printed no image ID");
  ASSIGN_OR_RETURN(Image image, Inspect(engine, id, name));
  return image;
}

Result<ImageRoot> MountImage(const Image& image) {
  ASSIGN_OR_RETURN(CommandResult r, RunCommand({image.engine, "image", "mount", image.id},
                                               {.timeout_seconds = 120}));
  if (r.exit_code != 0) {
    return FailedPrecondition("environment.image: podman image mount " + image.name +
                              " failed: " + FirstLine(r.err));
  }
  ImageRoot root;
  root.path = FirstLine(r.out);
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(root.path, ec)) {
    RootEntry entry{e.path().filename().string(), ""};
    if (e.is_symlink(ec)) entry.symlink = fs::read_symlink(e.path(), ec).string();
    root.entries.push_back(std::move(entry));
  }
  if (ec) {
    return IoError("environment.image: reading the root of " + image.name + " at " + root.path +
                   ": " + ec.message());
  }
  std::sort(root.entries.begin(), root.entries.end(),
            [](const RootEntry& a, const RootEntry& b) { return a.name < b.name; });
  return root;
}

std::vector<std::string> SandboxArgv(const Image& image, const ImageRoot& root,
                                     const std::vector<Bind>& binds, const std::string& cwd,
                                     bool gpus, const std::vector<std::string>& keep_env,
                                     const std::vector<std::string>& program) {
  // $1 = podman, $2 = the image ID; the rest is bwrap's argv.
  static const std::string kRemount =
      "e=$1 i=$2; shift 2; \"$e\" image mount \"$i\" >/dev/null || { echo \"[trainyard] "
      "podman image mount $i failed\" >&2; exit 125; }; exec \"$@\"";
  std::vector<std::string> argv = {"bash",       "-c",     kRemount,          "trainyard-image",
                                   image.engine, image.id, BwrapExecutable(), "--die-with-parent",
                                   "--tmpfs",    "/"};
  for (const RootEntry& e : root.entries) {
    if (e.name == "dev" || e.name == "proc" || e.name == "tmp" || e.name == "sys") continue;
    if (!e.symlink.empty()) {
      argv.insert(argv.end(), {"--symlink", e.symlink, "/" + e.name});
    } else {
      argv.insert(argv.end(), {"--ro-bind", root.path + "/" + e.name, "/" + e.name});
    }
  }
  argv.insert(argv.end(), {"--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"});
  if (gpus) {
    std::error_code ec;
    std::vector<std::string> devices;
    for (const auto& d : fs::directory_iterator("/dev", ec)) {
      if (StartsWith(d.path().filename().string(), "nvidia")) devices.push_back(d.path().string());
    }
    std::sort(devices.begin(), devices.end());
    for (const auto& d : devices) argv.insert(argv.end(), {"--dev-bind", d, d});
  }
  for (const Bind& b : binds) {
    argv.insert(argv.end(), {b.writable ? "--bind" : "--ro-bind", b.host, b.inside});
  }
  for (const auto& [k, v] : image.env) {
    // HOME: /tmp (below), the one writable folder of the image's own.
    if (k != "HOME" && std::find(keep_env.begin(), keep_env.end(), k) == keep_env.end()) {
      argv.insert(argv.end(), {"--setenv", k, v});
    }
  }
  if (std::find(keep_env.begin(), keep_env.end(), "HOME") == keep_env.end()) {
    argv.insert(argv.end(), {"--setenv", "HOME", "/tmp"});
  }
  argv.insert(argv.end(), {"--chdir", cwd, "--"});
  argv.insert(argv.end(), program.begin(), program.end());
  return argv;
}

}  // namespace trainyard::env
