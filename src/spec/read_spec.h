// SpecReader: turns a document tree (file plus flags, already merged) into a JobSpec, adding every
// problem it finds to a Problems list (internal to the spec module).
//
// The estimator form and the command-job form share this reader: fields that mean the same thing
// in both (inputs, environment_variables, experiment_name, display_name, tags) are read by
// read_spec.cc, the others by read_estimator.cc and read_command.cc, inputs by read_inputs.cc.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "spec/job_spec.h"
#include "spec/problems.h"
#include "spec/tree.h"

namespace trainyard::spec {

enum class Form { kEstimator, kCommand };

// The document of a job or sweep ("job" / "sweep" in messages): its top level must be a map, the
// text no larger than kMaxJobFileBytes (unless it is a stored spec). Returns the map (its `where`
// the origin, for missing fields), or a null node after adding the problem.
Node LoadTopLevelMap(const std::string& text, const std::string& origin, const std::string& what,
                     Problems* p);

// The command-job form is the one with a `command` or `code` field.
Form DetectForm(const Node& root);

class SpecReader {
 public:
  // Relative paths in the document resolve against `base_dir`; paths that came from flags
  // against the current directory. `problems` must outlive the reader.
  SpecReader(std::string base_dir, Problems* problems);

  // Reads a map node. The result is meaningful only if no problem was added.
  JobSpec Read(const Node& root, Form form);

  // Reading a sweep's trial: ${{search_space.NAME}} may name these.
  void SetSearchSpaceNames(std::vector<std::string> names) {
    search_space_names_ = std::move(names);
  }

 private:
  // A string that may hold ${{inputs.NAME}}, checked once all inputs are known.
  struct Reference {
    std::string where;
    std::string field;
    std::string text;
  };

  bool ReadSharedField(const MapEntry& e);
  bool ReadEstimatorField(const MapEntry& e);
  bool ReadCommandField(const MapEntry& e);
  void ReportMisplacedOrUnknown(const MapEntry& e, Form form);

  void ReadScriptParams(const Node& n);
  void ReadCommand(const Node& n);
  void ReadEnvironment(const Node& n);
  void ReadResources(const Node& n);
  void ReadDistribution(const Node& n);
  void ReadLimits(const Node& n);
  void ReadStringPairs(const Node& n, const std::string& field,
                       std::vector<std::pair<std::string, std::string>>* out);
  void ReadIdentity(const Node& n);
  void ReadOutputs(const Node& n);
  void ReadEnvironmentVariables(const Node& n);
  void ReadTags(const Node& n);
  void ReadInputs(const Node& n);
  void ReadInput(const MapEntry& e);
  void ReadInputMap(const Node& n, const std::string& field, Input& in);

  void ReadSourceDirectory(const Node& n, const std::string& field);
  void ReadTarget(const Node& n, const std::string& field);
  void ReadPython(const Node& n, const std::string& field);
  // entry_script, pip_requirements_file: a relative path that stays inside the source folder.
  std::optional<std::string> ReadPathInSource(const Node& n, const std::string& field);
  // An absolute, normalized path.
  std::string Resolve(const Node& n, const std::string& path) const;

  void CheckRequired(const Node& root, Form form);
  void CheckDistribution(Form form);
  void CheckReferences();

  std::string base_dir_;
  Problems* p_;
  JobSpec spec_;
  std::vector<Reference> references_;
  std::vector<std::string> search_space_names_;
  std::string node_count_where_;
  std::string process_count_where_;
  bool backend_error_ = false;
};

}  // namespace trainyard::spec
