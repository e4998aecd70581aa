// Container images for command jobs (environment.image / environment.build): found in (or built
// into) Podman's local storage, never pulled, and run through bubblewrap on the image's root file
// system as Podman's storage unpacks it (`podman image mount`). See docs/jobs.md, "Images".
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace trainyard::env {

struct Image {
  std::string engine;  // the podman executable (absolute)
  std::string name;    // as the job wrote it, or "build <context>" for environment.build
  std::string id;      // the image's ID in Podman's storage
  std::vector<std::pair<std::string, std::string>> env;  // the image's ENV (config), in order
};

// The podman executable: $TRAINYARD_PODMAN when set (even to a path that does not exist: tests
// use that to stand for "no engine"), else podman on PATH; "" when there is none.
std::string PodmanExecutable();
// The bwrap executable on PATH ("" when absent).
std::string BwrapExecutable();

// FailedPrecondition naming the image when podman or bwrap is missing.
Status CheckImageTools(const std::string& image);

// Looks `name` up in Podman's local storage only (nothing is pulled). FailedPrecondition naming
// the image and the engine, and how to get it there, when it is not there.
Result<Image> FindLocalImage(const std::string& name);

// Builds the Dockerfile `dockerfile` (relative to `context`) with `podman build --pull=never`
// (its FROM must be in local storage; layers are cached, so a second build is quick). RUN steps
// need an OCI runtime that can start containers here.
Result<Image> BuildLocalImage(const std::string& context, const std::string& dockerfile);

// One top-level entry of an image's root file system.
struct RootEntry {
  std::string name;
  std::string symlink;  // the link's target when the entry is a symbolic link, else ""
};

struct ImageRoot {
  std::string path;  // where Podman mounted the image's root file system (read-only)
  std::vector<RootEntry> entries;
};

// `podman image mount ID` (as root; idempotent) and the root's top-level entries, sorted.
Result<ImageRoot> MountImage(const Image& image);

struct Bind {
  std::string host;
  std::string inside;
  bool writable = false;
};

// The argv that runs `program` in the image: `bash -c` re-mounts the image when the run starts
// (a mount does not survive a reboot between submit and start), then execs bwrap with a tmpfs
// root holding the image's top-level entries read-only, /dev, /proc, a tmpfs /tmp, the binds, the
// host's network (the tracking endpoint is on 127.0.0.1), the GPUs' device files when `gpus`, the
// image's ENV (except the names in `keep_env`, which the job sets) and `cwd` as the working folder.
std::vector<std::string> SandboxArgv(const Image& image, const ImageRoot& root,
                                     const std::vector<Bind>& binds, const std::string& cwd,
                                     bool gpus, const std::vector<std::string>& keep_env,
                                     const std::vector<std::string>& program);

}  // namespace trainyard::env
