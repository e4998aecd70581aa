#include "targets/launch_plan.h"

#include "common/strings.h"

namespace trainyard::targets {

nlohmann::json BytesToJson(std::string_view bytes) {
  if (InvalidUtf8Offset(bytes) == std::string_view::npos) return std::string(bytes);
  return {{"bytes_b64", Base64Encode(bytes)}};
}

Result<std::string> BytesFromJson(const nlohmann::json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_object() && j.size() == 1 && j.contains("bytes_b64") && j["bytes_b64"].is_string()) {
    return Base64Decode(j["bytes_b64"].get<std::string>());
  }
  return InvalidArgument("expected a string or {\"bytes_b64\": ...}, not " +
                         j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

namespace {

// BytesFromJson for FromJson, which reports malformed plans as json exceptions.
std::string ReadBytes(const nlohmann::json& j) {
  auto bytes = BytesFromJson(j);
  if (!bytes.ok()) throw std::runtime_error(bytes.status().message());
  return *bytes;
}

}  // namespace

nlohmann::json LaunchPlan::ToJson() const {
  nlohmann::json procs = nlohmann::json::array();
  for (const auto& p : processes) {
    nlohmann::json argv = nlohmann::json::array();
    for (const auto& a : p.argv) argv.push_back(BytesToJson(a));
    nlohmann::json env = nlohmann::json::object();
    for (const auto& [k, v] : p.env) env[k] = BytesToJson(v);
    procs.push_back({{"rank", p.rank},
                     {"node_rank", p.node_rank},
                     {"local_rank", p.local_rank},
                     {"argv", argv},
                     {"env", env},
                     {"cwd", p.cwd},
                     {"tagged_output", p.tagged_output}});
  }
  nlohmann::json stage = {{"mode", staging.mode},
                          {"dir", staging.dir},
                          {"hosts", staging.hosts},
                          {"agent", staging.agent}};
  nlohmann::json out = {{"target", target},
                        {"type", type},
                        {"world_size", world_size},
                        {"staging", stage},
                        {"tracking_address", tracking_address},
                        {"batch_script", BytesToJson(batch_script)},
                        {"processes", procs},
                        {"notes", notes}};
  // Only when there are any, so that plans without them (and the golden files) stay as they were.
  if (!properties.empty()) out["properties"] = properties;
  if (!messages.empty()) out["messages"] = messages;
  if (!environment.hash.empty()) {
    out["environment"] = {{"hash", environment.hash},     {"describe", environment.describe},
                          {"where", environment.where},   {"envs_dir", environment.envs_dir},
                          {"python", environment.python}, {"hosts", environment.hosts},
                          {"agent", environment.agent},   {"command", environment.command}};
  }
  return out;
}

Result<LaunchPlan> LaunchPlan::FromJson(const nlohmann::json& j) {
  try {
    LaunchPlan plan;
    plan.target = j.at("target").get<std::string>();
    plan.type = j.at("type").get<std::string>();
    plan.world_size = j.at("world_size").get<int>();
    plan.notes = j.value("notes", std::vector<std::string>{});
    plan.properties = j.value("properties", std::map<std::string, std::string>{});
    plan.messages = j.value("messages", std::vector<std::string>{});
    plan.tracking_address = j.value("tracking_address", "");
    if (j.contains("batch_script")) plan.batch_script = ReadBytes(j.at("batch_script"));
    if (j.contains("staging")) {
      const auto& st = j.at("staging");
      plan.staging.mode = st.at("mode").get<std::string>();
      plan.staging.dir = st.at("dir").get<std::string>();
      plan.staging.hosts = st.at("hosts").get<std::vector<std::string>>();
      plan.staging.agent = st.at("agent").get<std::vector<std::string>>();
    }
    if (j.contains("environment")) {
      const auto& e = j.at("environment");
      plan.environment.hash = e.at("hash").get<std::string>();
      plan.environment.describe = e.at("describe").get<std::string>();
      plan.environment.where = e.at("where").get<std::string>();
      plan.environment.envs_dir = e.at("envs_dir").get<std::string>();
      plan.environment.python = e.at("python").get<std::string>();
      plan.environment.hosts = e.at("hosts").get<std::vector<std::string>>();
      plan.environment.agent = e.at("agent").get<std::vector<std::string>>();
      plan.environment.command = e.at("command").get<std::vector<std::string>>();
    }
    for (const auto& p : j.at("processes")) {
      ProcessSpec ps;
      ps.rank = p.at("rank").get<int>();
      ps.node_rank = p.at("node_rank").get<int>();
      ps.local_rank = p.at("local_rank").get<int>();
      for (const auto& a : p.at("argv")) ps.argv.push_back(ReadBytes(a));
      for (const auto& [k, v] : p.at("env").items()) ps.env[k] = ReadBytes(v);
      ps.cwd = p.at("cwd").get<std::string>();
      ps.tagged_output = p.value("tagged_output", false);
      plan.processes.push_back(std::move(ps));
    }
    return plan;
  } catch (const std::exception& e) {  // nlohmann::json::exception, or ReadBytes'
    return Internal(std::string("malformed launch plan: ") + e.what());
  }
}

std::string LaunchPlan::ToText() const {
  std::string out =
      "target: " + target + " (" + type + "), world size " + std::to_string(world_size) + "\n";
  if (staging.mode != "local") {
    out += "code: " +
           (staging.mode == "shared"
                ? "restored into the shared folder " + staging.dir
                : "copied to " + staging.dir + " on " + Join(staging.hosts, ", ") + " with " +
                      Join(staging.agent, " ") + "; outputs/ fetched back from " +
                      staging.hosts.at(0)) +
           "\n";
  }
  if (const EnvironmentPlan& e = environment; !e.hash.empty()) {
    std::string where = e.where == "hosts"
                            ? "prepared on each host (" + Join(e.hosts, ", ") + ") in " +
                                  e.envs_dir + " by running " + Join(e.command, " ") + " through " +
                                  Join(e.agent, " ")
                            : "prepared on this machine in " + e.envs_dir + "/" + e.hash;
    out += "environment: " + e.hash + " (" + e.describe + ") " + where + "; ranks run " + e.python +
           "\n";
  }
  for (const auto& n : notes) out += "note: " + n + "\n";
  if (!batch_script.empty()) out += "\nbatch script:\n" + batch_script;
  for (const auto& p : processes) {
    out += "\nprocess: rank " + std::to_string(p.rank) + ", node " + std::to_string(p.node_rank) +
           ", local rank " + std::to_string(p.local_rank) + "\n";
    out += "  cwd: " + p.cwd + "\n";
    out += "  env:\n";
    for (const auto& [k, v] : p.env) out += "    " + k + "=" + ShellQuote(v) + "\n";
    std::vector<std::string> quoted;
    for (const auto& a : p.argv) quoted.push_back(ShellQuote(a));
    out += "  argv: " + Join(quoted, " ") + "\n";
  }
  return out;
}

}  // namespace trainyard::targets
