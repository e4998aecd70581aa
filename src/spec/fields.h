// Typed readers for the fields of a job description (internal to the spec module).
//
// Each reader takes a node and the field path used in messages. A null node reads as nullopt
// without a problem (an optional field left empty); a node of the wrong type reads as nullopt and
// adds a problem such as `node_count: expected an integer, got "two"`.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "spec/problems.h"
#include "spec/tree.h"

namespace trainyard::spec {

// Any scalar, as written.
std::optional<std::string> ReadString(const Node& n, const std::string& field, Problems& p);
// An integer from 1 to `max` (process and node counts).
std::optional<int> ReadCount(const Node& n, const std::string& field, int max, Problems& p);
// true/false (also yes/no, on/off, any case).
std::optional<bool> ReadBool(const Node& n, const std::string& field, Problems& p);
// A number of seconds > 0 and at most kMaxRunSeconds (parse.h).
std::optional<double> ReadSeconds(const Node& n, const std::string& field, Problems& p);
// A list of scalars.
std::optional<std::vector<std::string>> ReadStringList(const Node& n, const std::string& field,
                                                       Problems& p);
// "mpi", "pytorch" (also gloo, nccl, torch.distributed) or "" (none, null, "").
std::optional<std::string> ReadBackend(const Node& n, const std::string& field, Problems& p);

// True for a map; adds "expected a map, got ..." for a scalar or list; false for null.
bool ExpectMap(const Node& n, const std::string& field, Problems& p);

// Adds `field: unknown field (did you mean "x"?)` for an entry whose key is not in `known`.
void ReportUnknownField(const MapEntry& e, const std::string& parent,
                        const std::vector<std::string>& known, Problems& p);

// Parsers shared with input literals; nullopt when `text` is not of the type.
std::optional<long long> ParseInteger(const std::string& text);
std::optional<double> ParseNumber(const std::string& text);
std::optional<bool> ParseBool(const std::string& text);

// ` (did you mean "x"?)` or "".
std::string DidYouMeanSuffix(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace trainyard::spec
