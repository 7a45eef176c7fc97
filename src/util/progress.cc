#include "util/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace vessel {

namespace {
thread_local Progress* t_progress = nullptr;
thread_local ProgressLine* t_line = nullptr;
thread_local uint64_t t_line_bytes = 0;
thread_local uint64_t t_line_size = 0;
thread_local size_t t_line_index = 0;
}  // namespace

std::string human_bytes(uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", n) : fmt::format("{:.1f} {}", v, units[u]);
}

Progress::Progress(bool quiet) : quiet_(quiet), tty_(!quiet && ::isatty(STDERR_FILENO) == 1) {}

void Progress::start(std::vector<std::string> labels, std::vector<uint64_t> sizes) {
  std::lock_guard lock(mu_);
  labels_ = std::move(labels);
  sizes_ = std::move(sizes);
  sizes_.resize(labels_.size(), 0);
  done_.assign(labels_.size(), 0);
  last_.assign(labels_.size(), {});
  began_.assign(labels_.size(), {});
  if (!tty_) return;
  for (size_t i = 0; i < labels_.size(); ++i)
    std::fprintf(stderr, "%s %s\n", labels_[i].c_str(),
                 sizes_[i] ? ("waiting (" + human_bytes(sizes_[i]) + ")").c_str() : "waiting");
  std::fflush(stderr);
}

size_t Progress::add(const std::string& label, uint64_t size) {
  std::lock_guard lock(mu_);
  labels_.push_back(label);
  sizes_.push_back(size);
  done_.push_back(0);
  last_.push_back({});
  began_.push_back(std::chrono::steady_clock::now());
  if (tty_) {
    std::fprintf(stderr, "%s %s\n", label.c_str(),
                 size ? ("waiting (" + human_bytes(size) + ")").c_str() : "waiting");
    std::fflush(stderr);
  }
  return labels_.size() - 1;
}

void Progress::update(size_t i, uint64_t done, uint64_t total) {
  if (quiet_) return;
  std::lock_guard lock(mu_);
  if (i >= labels_.size()) return;
  done_[i] = done;  // the size of an item whose size was not known up front
  if (!tty_) return;
  auto now = std::chrono::steady_clock::now();
  if (began_[i] == std::chrono::steady_clock::time_point{}) began_[i] = now;
  // The first figure at once, then at most ten redraws a second.
  if (last_[i] != std::chrono::steady_clock::time_point{} &&
      now - last_[i] < std::chrono::milliseconds(100))
    return;
  last_[i] = now;
  std::string bar;
  if (total > 0) {
    size_t full = static_cast<size_t>(30.0 * static_cast<double>(std::min(done, total)) /
                                      static_cast<double>(total));
    bar = "[" + std::string(full, '=') + (full < 30 ? ">" : "") +
          std::string(full < 30 ? 29 - full : 0, ' ') + "] ";
  }
  double secs = std::chrono::duration<double>(now - began_[i]).count();
  std::string speed =
      secs > 0.2 ? " " + human_bytes(static_cast<uint64_t>(static_cast<double>(done) / secs)) + "/s"
                 : "";
  draw(i, bar + human_bytes(done) + (total ? " / " + human_bytes(total) : "") + speed);
}

void Progress::finish(size_t i, const std::string& status) {
  if (quiet_) return;
  std::lock_guard lock(mu_);
  if (i >= labels_.size()) return;
  std::string text = status;
  uint64_t size = sizes_[i] ? sizes_[i] : done_[i];
  if (size && status == "done") {
    text += " (" + human_bytes(size);
    double secs =
        began_[i] == std::chrono::steady_clock::time_point{}
            ? 0
            : std::chrono::duration<double>(std::chrono::steady_clock::now() - began_[i]).count();
    if (tty_ && secs > 0)
      text += ", " + human_bytes(static_cast<uint64_t>(static_cast<double>(size) / secs)) + "/s";
    text += ")";
  }
  if (tty_) {
    draw(i, text);
  } else {
    std::fprintf(stderr, "%s %s\n", labels_[i].c_str(), text.c_str());
    std::fflush(stderr);
  }
}

void Progress::draw(size_t i, const std::string& status) {
  size_t up = labels_.size() - i;
  std::fprintf(stderr, "\033[%zuA\r\033[2K%s %s\033[%zuB\r", up, labels_[i].c_str(), status.c_str(),
               up);
  std::fflush(stderr);
}

ProgressScope::ProgressScope(Progress* p) : prev_(t_progress) { t_progress = p; }
ProgressScope::~ProgressScope() { t_progress = prev_; }

ProgressLine::ProgressLine(const std::string& label, uint64_t size) {
  if (!t_progress || t_progress->quiet()) return;
  p_ = t_progress;
  index_ = p_->add(label, size);
  prev_ = t_line;
  t_line = this;
  t_line_bytes = 0;
  t_line_size = size;
  t_line_index = index_;
  p_->update(index_, 0, size);
}

ProgressLine::~ProgressLine() {
  if (!p_) return;
  if (t_line == this) t_line = prev_;
}

void ProgressLine::done(const std::string& status) {
  if (!p_) return;
  if (t_line == this) {
    p_->update(index_, t_line_bytes, t_line_size);
    t_line = prev_;
  }
  p_->finish(index_, status);
  p_ = nullptr;
}

void progress_bytes(uint64_t n) {
  if (!t_line || !t_progress) return;
  t_line_bytes += n;
  t_progress->update(t_line_index, t_line_bytes, t_line_size);
}

}  // namespace vessel
