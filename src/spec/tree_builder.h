// TreeBuilder: builds a Node tree from parse events (YAML through yaml-cpp's event API, JSON
// through json_tree.cc) and enforces the document limits while it builds, so that no input can
// make the tree large before it is refused (internal to the spec module).
//
// Limits (parse.h documents them): nesting depth, number of nodes and scalar bytes after alias
// expansion. A limit, like a syntax error, stops the parse by throwing TreeBuilder::Stop; the
// loader turns it into one problem and a null tree. Duplicate keys are found with a hash set per
// map (linear time) and reported without stopping.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "spec/problems.h"
#include "spec/tree.h"

namespace trainyard::spec {

class TreeBuilder {
 public:
  // Thrown to stop parsing; `where` is "origin:line:col" (or the flag's label).
  struct Stop {
    std::string where;
    std::string message;
  };

  // With a non-empty `label` every location is the label (a flag's value); otherwise locations
  // are "origin:line:col".
  // `limit_size` false: no limit on nodes and bytes (a spec trainyard stored itself).
  TreeBuilder(std::string origin, std::string label, Problems* problems, bool limit_size = true);

  // "origin:line:col" from 0-based line and column, or the label.
  std::string Where(size_t line, size_t column) const;

  // Events. `anchor` (YAML only) is 0 or the id later aliases use.
  void Scalar(std::string text, const std::string& where, size_t anchor = 0);
  void Null(const std::string& where, size_t anchor = 0);
  void StartList(const std::string& where, size_t anchor = 0);
  void StartMap(const std::string& where, size_t anchor = 0);
  void End();
  // A copy of the node anchored as `anchor`, named `name` in messages.
  void Alias(const std::string& where, size_t anchor, const std::string& name);

  // True once the top-level node is complete.
  bool Done() const { return done_; }
  Node TakeRoot() { return std::move(root_); }

 private:
  struct Frame {
    Node node;
    size_t anchor = 0;
    // Maps: the key waiting for its value.
    bool have_key = false;
    bool skip_value = false;  // the key was not a plain string: its value is dropped
    std::string key;
    std::string key_where;
    std::unordered_map<std::string, size_t> index;  // key -> position in node.entries
  };
  struct Size {
    size_t nodes = 0;
    size_t bytes = 0;
  };

  // Where a null written at this point is reported: its key's place, its list's, the document.
  std::string NullWhere() const;
  void Count(size_t nodes, size_t bytes, const std::string& where, const char* why);
  void Attach(Node node, size_t anchor);
  static Size SizeOf(const Node& node);

  std::string origin_;
  std::string label_;
  Problems* problems_;
  bool limit_size_;
  std::vector<Frame> stack_;
  Node root_;
  bool done_ = false;
  size_t nodes_ = 0;
  size_t bytes_ = 0;
  size_t anchored_nodes_ = 0;
  size_t anchored_bytes_ = 0;
  std::map<size_t, Node> anchors_;
  std::map<size_t, Size> anchor_sizes_;
};

}  // namespace trainyard::spec
