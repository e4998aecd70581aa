#include "spec/tree.h"

#include <yaml-cpp/yaml.h>

#include <utility>

namespace trainyard::spec {
namespace {

// Deeper or larger documents are rejected (this also stops an alias that refers to itself and
// aliases that multiply a small text into a huge tree).
constexpr int kMaxDepth = 64;
constexpr int kMaxNodes = 100000;

std::string WhereOf(const YAML::Mark& mark, const std::string& origin,
                    const std::string& fallback) {
  if (mark.is_null()) return fallback;
  return origin + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
}

// Turns a yaml-cpp node into a Node. With a non-empty `label` every location is the label (a
// flag); otherwise locations come from the marks, falling back to `fallback`.
class Converter {
 public:
  Converter(std::string origin, std::string label, Problems* problems)
      : origin_(std::move(origin)), label_(std::move(label)), problems_(problems) {}

  Node Convert(const YAML::Node& y, const std::string& fallback, int depth) {
    Node out;
    // A null value has no text of its own (its mark is the next token): use its key's place.
    out.where = y.IsNull() ? (label_.empty() ? fallback : label_) : Where(y.Mark(), fallback);
    out.from_flags = !label_.empty();
    if (depth > kMaxDepth || ++nodes_ > kMaxNodes) {
      if (!too_big_) problems_->Add(out.where, "", "document nested too deeply or too large");
      too_big_ = true;
      return out;
    }
    switch (y.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null: break;
      case YAML::NodeType::Scalar:
        out.kind = Node::Kind::kScalar;
        out.text = y.Scalar();
        break;
      case YAML::NodeType::Sequence:
        out.kind = Node::Kind::kList;
        for (const auto& item : y) out.items.push_back(Convert(item, out.where, depth + 1));
        break;
      case YAML::NodeType::Map:
        out.kind = Node::Kind::kMap;
        for (const auto& kv : y) AddEntry(kv.first, kv.second, out, depth);
        break;
    }
    return out;
  }

 private:
  std::string Where(const YAML::Mark& mark, const std::string& fallback) const {
    return label_.empty() ? WhereOf(mark, origin_, fallback) : label_;
  }

  void AddEntry(const YAML::Node& key, const YAML::Node& value, Node& map, int depth) {
    std::string key_where = Where(key.Mark(), map.where);
    if (!key.IsScalar() && !key.IsNull()) {
      problems_->Add(key_where, "", "keys must be plain strings");
      return;
    }
    std::string text = key.IsScalar() ? key.Scalar() : std::string();
    if (const MapEntry* first = map.Find(text)) {
      problems_->Add(
          key_where, "",
          "duplicate key " + Quote(text) + " (first written at " + first->key_where + ")");
      return;
    }
    map.entries.push_back({text, key_where, Convert(value, key_where, depth + 1)});
  }

  std::string origin_;
  std::string label_;
  Problems* problems_;
  int nodes_ = 0;
  bool too_big_ = false;
};

Node Load(const std::string& text, const std::string& origin, const std::string& label,
          Problems* problems) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    std::string where = label.empty() ? WhereOf(e.mark, origin, origin) : label;
    problems->Add(where, "", "YAML syntax error: " + e.msg);
    return {};
  } catch (const YAML::Exception& e) {
    problems->Add(label.empty() ? origin : label, "", std::string("YAML error: ") + e.what());
    return {};
  }
  return Converter(origin, label, problems).Convert(root, label.empty() ? origin : label, 0);
}

}  // namespace

const MapEntry* Node::Find(const std::string& key) const {
  for (const auto& e : entries) {
    if (e.key == key) return &e;
  }
  return nullptr;
}

MapEntry* Node::Find(const std::string& key) {
  for (auto& e : entries) {
    if (e.key == key) return &e;
  }
  return nullptr;
}

Node& Node::Set(const std::string& key, const std::string& key_where, Node value) {
  if (MapEntry* e = Find(key)) {
    e->value = std::move(value);
    return e->value;
  }
  entries.push_back({key, key_where, std::move(value)});
  return entries.back().value;
}

Node ScalarNode(std::string text, std::string where, bool from_flags) {
  Node n;
  n.kind = Node::Kind::kScalar;
  n.text = std::move(text);
  n.where = std::move(where);
  n.from_flags = from_flags;
  return n;
}

Node MapNode(std::string where, bool from_flags) {
  Node n;
  n.kind = Node::Kind::kMap;
  n.where = std::move(where);
  n.from_flags = from_flags;
  return n;
}

Node ListNode(std::string where, bool from_flags) {
  Node n;
  n.kind = Node::Kind::kList;
  n.where = std::move(where);
  n.from_flags = from_flags;
  return n;
}

std::string Describe(const Node& node) {
  switch (node.kind) {
    case Node::Kind::kNull: return "null";
    case Node::Kind::kScalar: return Quote(node.text);
    case Node::Kind::kList: return "a list";
    case Node::Kind::kMap: return "a map";
  }
  return "?";
}

Node LoadDocument(const std::string& text, const std::string& origin, Problems* problems) {
  return Load(text, origin, "", problems);
}

Node LoadFlagValue(const std::string& text, const std::string& label, Problems* problems) {
  return Load(text, "", label, problems);
}

}  // namespace trainyard::spec
