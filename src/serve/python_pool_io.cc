#include "serve/python_pool_io.h"

#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace trainyard::serve::pool_io {
namespace {

constexpr size_t kHeaderBytes = 4;
constexpr size_t kMaxLineBytes = size_t{64} * 1024;
constexpr size_t kKeptLines = 20;

}  // namespace

std::string EncodeFrame(std::string_view payload) {
  const auto n = static_cast<uint32_t>(payload.size());
  std::string frame;
  frame.reserve(kHeaderBytes + payload.size());
  frame.push_back(static_cast<char>((n >> 24) & 0xff));
  frame.push_back(static_cast<char>((n >> 16) & 0xff));
  frame.push_back(static_cast<char>((n >> 8) & 0xff));
  frame.push_back(static_cast<char>(n & 0xff));
  frame.append(payload);
  return frame;
}

Result<bool> TakeFrame(std::string* buffer, std::string* payload, size_t max_payload) {
  if (buffer->size() < kHeaderBytes) return false;
  size_t n = 0;
  for (size_t i = 0; i < kHeaderBytes; ++i) {
    n = (n << 8) | static_cast<unsigned char>((*buffer)[i]);
  }
  if (n > max_payload) {
    return InvalidArgument("a frame of " + std::to_string(n) + " bytes (at most " +
                           std::to_string(max_payload) + " expected)");
  }
  if (buffer->size() < kHeaderBytes + n) return false;
  payload->assign(*buffer, kHeaderBytes, n);
  buffer->erase(0, kHeaderBytes + n);
  return true;
}

LineForwarder::LineForwarder(std::string prefix, int fd) : prefix_(std::move(prefix)), fd_(fd) {}

void LineForwarder::Feed(std::string_view bytes) {
  while (!bytes.empty()) {
    const size_t newline = bytes.find('\n');
    if (newline == std::string_view::npos) {
      partial_.append(bytes);
      while (partial_.size() >= kMaxLineBytes) {
        Emit(std::string_view(partial_).substr(0, kMaxLineBytes));
        partial_.erase(0, kMaxLineBytes);
      }
      return;
    }
    partial_.append(bytes.substr(0, newline));
    bytes.remove_prefix(newline + 1);
    if (!partial_.empty() && partial_.back() == '\r') partial_.pop_back();
    Emit(partial_);
    partial_.clear();
  }
}

void LineForwarder::Flush() {
  if (partial_.empty()) return;
  Emit(partial_);
  partial_.clear();
}

std::string LineForwarder::LastLines(size_t n) const {
  std::string out;
  const size_t first = recent_.size() > n ? recent_.size() - n : 0;
  for (size_t i = first; i < recent_.size(); ++i) {
    if (i > first) out += '\n';
    out += recent_[i];
  }
  return out;
}

void LineForwarder::Emit(std::string_view line) {
  std::string out;
  out.reserve(prefix_.size() + line.size() + 1);
  out.append(prefix_).append(line).push_back('\n');
  const char* p = out.data();
  size_t left = out.size();
  while (left > 0) {
    const ssize_t n = ::write(fd_, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // stderr is gone: the line is dropped, as any log line would be
    p += n;
    left -= static_cast<size_t>(n);
  }
  recent_.emplace_back(line);
  if (recent_.size() > kKeptLines) recent_.pop_front();
}

}  // namespace trainyard::serve::pool_io
