// Which `trainyard` verbs a client may run on a server's workspace (POST /api/v1/cli), and the
// role each needs. Only verbs that read or change the workspace's records are allowed, and only
// with options that name nothing on the server's machine: every option of every allowed verb is
// listed here, and any other word that starts with '-' (including "--" and --workspace) is
// refused. The CLI checks the same table before it sends a command (a clear error without a
// round trip); the server checks it again.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "server/api.h"

namespace trainyard::server {

struct ForwardedVerb {
  std::string name;  // "list", "sweep show", ...
  Role role = Role::kRead;
};

// The verb of `argv` (the words after the program name, without --workspace) and the role it
// needs; InvalidArgument naming the verb or the word when it cannot run over a server.
Result<ForwardedVerb> CheckForwardedArgv(const std::vector<std::string>& argv);

// The verbs that may be forwarded, for messages and docs ("list, show, logs, ...").
std::string ForwardedVerbList();

}  // namespace trainyard::server
