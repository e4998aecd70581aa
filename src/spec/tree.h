// A parsed YAML/JSON document as plain data (internal to the spec module).
//
// Every node remembers where it came from ("job.yaml:3:7" for a file, "--set node_count=2" for a
// flag), so that flags can be merged into a file's tree before validation and every problem can
// point at the line or the flag that caused it.
#pragma once

#include <string>
#include <vector>

#include "spec/problems.h"

namespace trainyard::spec {

struct MapEntry;

struct Node {
  enum class Kind { kNull, kScalar, kList, kMap };

  Kind kind = Kind::kNull;
  std::string text;               // kScalar: the scalar as written (quotes removed)
  std::vector<Node> items;        // kList
  std::vector<MapEntry> entries;  // kMap, in document order, keys unique
  std::string where;              // "job.yaml:3:7" or "--set node_count=2"
  bool from_flags = false;        // relative paths in it resolve against the current directory

  bool IsNull() const { return kind == Kind::kNull; }
  bool IsScalar() const { return kind == Kind::kScalar; }
  bool IsList() const { return kind == Kind::kList; }
  bool IsMap() const { return kind == Kind::kMap; }

  // The entry for `key` in a map, or nullptr.
  const MapEntry* Find(const std::string& key) const;
  MapEntry* Find(const std::string& key);
  // Sets `key` in a map: replaces the value of an existing entry (keeping its place) or appends.
  // Returns the value now stored.
  Node& Set(const std::string& key, const std::string& key_where, Node value);
};

struct MapEntry {
  std::string key;
  std::string key_where;  // where the key was written
  Node value;
};

Node ScalarNode(std::string text, std::string where, bool from_flags);
Node MapNode(std::string where, bool from_flags);
Node ListNode(std::string where, bool from_flags);

// "\"two\"", "a list", "a map" or "null": how a node is shown in "expected X, got Y".
std::string Describe(const Node& node);

// Parses a YAML document, or strict JSON when `origin` ends in ".json"; locations read
// "origin:line:column" (1-based), or just "origin" for a document that is not a file (an origin
// in angle brackets, "<PyTorch>"). Syntax errors ("origin:line:column: YAML syntax error: ..."),
// a second YAML document, and the limits of parse.h (nesting, size with aliases expanded) stop
// the parse: one problem is added and the returned node is null. Duplicate keys are added to
// *problems without stopping.
Node LoadDocument(const std::string& text, const std::string& origin, Problems* problems);

// Strict JSON (RFC 8259): no trailing commas, comments or single quotes; \u escapes with
// surrogate pairs are decoded to UTF-8 and a lone surrogate is an error. Numbers keep their text
// as written; true/false are the scalars "true"/"false"; null is a null node.
Node LoadJson(const std::string& text, const std::string& origin, Problems* problems);

// Parses a flag's value as YAML ("2", "[a, b]", "null"); every node's location is `label` and
// its paths are relative to the current directory.
Node LoadFlagValue(const std::string& text, const std::string& label, Problems* problems);

// Adds "where: field: contains a NUL byte ..." for every key or scalar of `root` that holds one
// (a NUL would silently cut an argument, a variable or a name short).
void CheckNoNul(const Node& root, Problems* problems);

}  // namespace trainyard::spec
