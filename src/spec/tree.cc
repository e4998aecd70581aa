#include "spec/tree.h"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <sstream>
#include <utility>

#include "common/strings.h"
#include "spec/parse.h"
#include "spec/tree_builder.h"

namespace trainyard::spec {

TreeBuilder::TreeBuilder(std::string origin, std::string label, Problems* problems, bool limit_size)
    : origin_(std::move(origin)),
      label_(std::move(label)),
      problems_(problems),
      limit_size_(limit_size) {}

std::string TreeBuilder::Where(size_t line, size_t column) const {
  if (!label_.empty()) return label_;
  return origin_ + ":" + std::to_string(line + 1) + ":" + std::to_string(column + 1);
}

std::string TreeBuilder::NullWhere() const {
  if (stack_.empty()) return label_.empty() ? origin_ : label_;
  const Frame& f = stack_.back();
  return f.node.IsMap() && f.have_key ? f.key_where : f.node.where;
}

void TreeBuilder::Count(size_t nodes, size_t bytes, const std::string& where, const char* why) {
  nodes_ += nodes;
  bytes_ += bytes;
  if (limit_size_ && (nodes_ > kMaxDocumentNodes || bytes_ > kMaxDocumentBytes)) {
    throw Stop{where, std::string(why) + " more than " + std::to_string(kMaxDocumentNodes) +
                          " keys and values or " + std::to_string(kMaxDocumentBytes >> 20) +
                          " MiB of text (the limit for a job description)"};
  }
}

void TreeBuilder::Scalar(std::string text, const std::string& where, size_t anchor) {
  Count(1, text.size(), where, "the document holds");
  Node n;
  n.kind = Node::Kind::kScalar;
  n.text = std::move(text);
  n.where = where;
  n.from_flags = !label_.empty();
  Attach(std::move(n), anchor);
}

void TreeBuilder::Null(const std::string& where, size_t anchor) {
  Count(1, 0, where, "the document holds");
  Node n;
  // A null value has no text of its own: it is reported at its key's place. A null key keeps
  // its own.
  const bool is_key = !stack_.empty() && stack_.back().node.IsMap() && !stack_.back().have_key;
  n.where = is_key ? where : NullWhere();
  n.from_flags = !label_.empty();
  Attach(std::move(n), anchor);
}

void TreeBuilder::StartList(const std::string& where, size_t anchor) {
  if (stack_.size() >= static_cast<size_t>(kMaxNesting)) {
    throw Stop{where, "nesting deeper than " + std::to_string(kMaxNesting) +
                          " levels (lists and maps inside each other)"};
  }
  Count(1, 0, where, "the document holds");
  Frame f;
  f.node = ListNode(where, !label_.empty());
  f.anchor = anchor;
  stack_.push_back(std::move(f));
}

void TreeBuilder::StartMap(const std::string& where, size_t anchor) {
  if (stack_.size() >= static_cast<size_t>(kMaxNesting)) {
    throw Stop{where, "nesting deeper than " + std::to_string(kMaxNesting) +
                          " levels (lists and maps inside each other)"};
  }
  Count(1, 0, where, "the document holds");
  Frame f;
  f.node = MapNode(where, !label_.empty());
  f.anchor = anchor;
  stack_.push_back(std::move(f));
}

void TreeBuilder::End() {
  Frame f = std::move(stack_.back());
  stack_.pop_back();
  Attach(std::move(f.node), f.anchor);
}

void TreeBuilder::Alias(const std::string& where, size_t anchor, const std::string& name) {
  auto it = anchors_.find(anchor);
  if (it == anchors_.end()) {
    // yaml-cpp refuses unknown anchors; a known one not yet complete contains this alias.
    throw Stop{where, "alias *" + name + " refers to the list or map that contains it"};
  }
  const Size& size = anchor_sizes_[anchor];
  Count(size.nodes, size.bytes, where, ("alias *" + name + " expands the document to").c_str());
  Node copy = it->second;
  if (copy.IsNull()) copy.where = NullWhere();
  Attach(std::move(copy), 0);
}

TreeBuilder::Size TreeBuilder::SizeOf(const Node& node) {
  Size s{1, node.text.size()};
  for (const Node& item : node.items) {
    Size i = SizeOf(item);
    s.nodes += i.nodes;
    s.bytes += i.bytes;
  }
  for (const MapEntry& e : node.entries) {
    Size v = SizeOf(e.value);
    s.nodes += v.nodes + 1;
    s.bytes += v.bytes + e.key.size();
  }
  return s;
}

void TreeBuilder::Attach(Node node, size_t anchor) {
  if (anchor != 0) {
    // Each anchor keeps a copy of its node: anchors inside anchors would copy the same text
    // once per level, so the copies have a budget of their own.
    Size size = SizeOf(node);
    anchored_nodes_ += size.nodes;
    anchored_bytes_ += size.bytes;
    if (limit_size_ &&
        (anchored_nodes_ > kMaxDocumentNodes || anchored_bytes_ > kMaxDocumentBytes)) {
      throw Stop{node.where, "anchored lists and maps hold more than " +
                                 std::to_string(kMaxDocumentNodes) + " keys and values or " +
                                 std::to_string(kMaxDocumentBytes >> 20) +
                                 " MiB of text in all (an anchor inside an anchor counts twice)"};
    }
    anchor_sizes_[anchor] = size;
    anchors_[anchor] = node;
  }
  if (stack_.empty()) {
    root_ = std::move(node);
    done_ = true;
    return;
  }
  Frame& f = stack_.back();
  if (f.node.IsList()) {
    f.node.items.push_back(std::move(node));
    return;
  }
  if (!f.have_key) {
    f.have_key = true;
    f.key_where = node.where;
    f.skip_value = !node.IsScalar() && !node.IsNull();
    if (f.skip_value) problems_->Add(f.key_where, "", "keys must be plain strings");
    f.key = std::move(node.text);
    return;
  }
  f.have_key = false;
  if (f.skip_value) return;
  auto [first, inserted] = f.index.try_emplace(f.key, f.node.entries.size());
  if (!inserted) {
    problems_->Add(f.key_where, "",
                   "duplicate key " + Quote(f.key) + " (first written at " +
                       f.node.entries[first->second].key_where + ")");
    return;
  }
  f.node.entries.push_back({std::move(f.key), std::move(f.key_where), std::move(node)});
}

namespace {

// Feeds yaml-cpp's parse events to a TreeBuilder. A second document stops the parse.
class YamlEvents : public YAML::EventHandler {
 public:
  explicit YamlEvents(TreeBuilder* b) : b_(b) {}

  void OnDocumentStart(const YAML::Mark& mark) override {
    if (b_->Done() || documents_++ > 0) {
      throw TreeBuilder::Stop{Where(mark),
                              "a second YAML document (a job file holds one; remove the \"---\" "
                              "line and what follows, or split the file)"};
    }
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    b_->Null(Where(mark), Named(anchor));
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    auto it = names_.find(anchor);
    b_->Alias(Where(mark), anchor, it == names_.end() ? "?" : it->second);
  }
  void OnScalar(const YAML::Mark& mark, const std::string& /*tag*/, YAML::anchor_t anchor,
                const std::string& value) override {
    b_->Scalar(value, Where(mark), Named(anchor));
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string& /*tag*/, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value /*style*/) override {
    b_->StartList(Where(mark), Named(anchor));
  }
  void OnSequenceEnd() override { b_->End(); }
  void OnMapStart(const YAML::Mark& mark, const std::string& /*tag*/, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value /*style*/) override {
    b_->StartMap(Where(mark), Named(anchor));
  }
  void OnMapEnd() override { b_->End(); }
  void OnAnchor(const YAML::Mark& /*mark*/, const std::string& name) override {
    anchor_name_ = name;
  }

 private:
  std::string Where(const YAML::Mark& mark) const {
    return b_->Where(static_cast<size_t>(std::max(mark.line, 0)),
                     static_cast<size_t>(std::max(mark.column, 0)));
  }
  // Remembers the name of a newly anchored node (OnAnchor comes just before its event).
  size_t Named(YAML::anchor_t anchor) {
    if (anchor != YAML::NullAnchor) names_[anchor] = anchor_name_;
    return anchor;
  }

  TreeBuilder* b_;
  int documents_ = 0;
  std::string anchor_name_;
  std::map<YAML::anchor_t, std::string> names_;
};

std::string WhereOf(const YAML::Mark& mark, const std::string& origin,
                    const std::string& fallback) {
  if (mark.is_null()) return fallback;
  return origin + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
}

Node LoadYaml(const std::string& text, const std::string& origin, const std::string& label,
              Problems* problems) {
  const std::string fallback = label.empty() ? origin : label;
  TreeBuilder builder(origin, label, problems, origin != kStoredSpecOrigin);
  YamlEvents events(&builder);
  try {
    std::istringstream in(text);
    YAML::Parser parser(in);
    if (!parser.HandleNextDocument(events)) return {};
    // Anything after the first document: a second one is refused by OnDocumentStart.
    parser.HandleNextDocument(events);
  } catch (const TreeBuilder::Stop& stop) {
    problems->Add(stop.where, "", stop.message);
    return {};
  } catch (const YAML::DeepRecursion& e) {
    problems->Add(label.empty() ? WhereOf(e.mark, origin, origin) : label, "",
                  "nesting deeper than " + std::to_string(kMaxNesting) + " levels");
    return {};
  } catch (const YAML::ParserException& e) {
    problems->Add(label.empty() ? WhereOf(e.mark, origin, origin) : label, "",
                  "YAML syntax error: " + e.msg);
    return {};
  } catch (const YAML::Exception& e) {
    problems->Add(fallback, "", std::string("YAML error: ") + e.what());
    return {};
  }
  return builder.TakeRoot();
}

bool IsJsonOrigin(const std::string& origin) {
  if (origin.size() < 5) return false;
  std::string ext = origin.substr(origin.size() - 5);
  for (char& c : ext) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return ext == ".json";
}

// Adds a problem for each key or scalar under `node` that holds a NUL byte.
void CheckNul(const Node& node, const std::string& field, Problems* problems) {
  const char* kWhy = "contains a NUL byte (\\u0000), which no argument, variable or name can hold";
  // A flag's label holds the flag's text, NUL included: show it escaped.
  auto shown = [](std::string where) {
    for (size_t i = where.find('\0'); i != std::string::npos; i = where.find('\0', i)) {
      where.replace(i, 1, "\\u0000");
    }
    return where;
  };
  if (node.IsScalar() && node.text.find('\0') != std::string::npos) {
    problems->Add(shown(node.where), field, kWhy);
  }
  for (size_t i = 0; i < node.items.size(); ++i) {
    CheckNul(node.items[i], Index(field, i), problems);
  }
  for (const MapEntry& e : node.entries) {
    std::string child = Child(field, e.key);
    if (e.key.find('\0') != std::string::npos) problems->Add(shown(e.key_where), child, kWhy);
    CheckNul(e.value, child, problems);
  }
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
  if (IsJsonOrigin(origin)) return LoadJson(text, origin, problems);
  // A document that is not a file ("<PyTorch>" from the Python SDK) has no lines to point at.
  const bool described = origin.size() > 2 && origin.front() == '<' && origin.back() == '>';
  return LoadYaml(text, origin, described ? origin : "", problems);
}

Node LoadFlagValue(const std::string& text, const std::string& label, Problems* problems) {
  // Bytes that are not UTF-8, or a leading byte-order mark, are not YAML: yaml-cpp would read
  // FF FE / FE FF / EF BB BF as an encoding mark and drop them. Such a value is the text itself.
  if (InvalidUtf8Offset(text) != std::string::npos || text.rfind("\xEF\xBB\xBF", 0) == 0) {
    return ScalarNode(text, label, true);
  }
  return LoadYaml(text, "", label, problems);
}

void CheckNoNul(const Node& root, Problems* problems) { CheckNul(root, "", problems); }

}  // namespace trainyard::spec
