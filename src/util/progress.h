// Progress of long copies (pull, push, load, save, build) on stderr, one line per blob or
// layer: a bar with sizes and speed redrawn in place when stderr is a terminal, one line per
// item once it is finished otherwise (with its size), nothing when quiet.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace vessel {

// "512 B", "1.5 MiB".
std::string human_bytes(uint64_t n);

class Progress {
 public:
  explicit Progress(bool quiet);

  // Lines for every item (with their sizes), printed up front on a terminal.
  void start(std::vector<std::string> labels, std::vector<uint64_t> sizes);
  // One more line at the bottom; returns its index.
  size_t add(const std::string& label, uint64_t size);
  void update(size_t i, uint64_t done, uint64_t total);
  // "done" gets the size (and on a terminal the speed) added.
  void finish(size_t i, const std::string& status);
  bool quiet() const { return quiet_; }

 private:
  void draw(size_t i, const std::string& status);

  bool quiet_;
  bool tty_;
  std::mutex mu_;
  std::vector<std::string> labels_;
  std::vector<uint64_t> sizes_, done_;
  std::vector<std::chrono::steady_clock::time_point> last_, began_;
};

// The Progress that copies deep in the image layer report to (load, save, build), for this
// thread, while one of these lives; those copies do not know whether anyone is watching.
class ProgressScope {
 public:
  explicit ProgressScope(Progress* p);
  ~ProgressScope();
  ProgressScope(const ProgressScope&) = delete;
  ProgressScope& operator=(const ProgressScope&) = delete;

 private:
  Progress* prev_;
};

// One item of the current scope's Progress (none: does nothing). Bytes copied in this thread
// meanwhile (progress_bytes) move its bar; done() finishes the line.
class ProgressLine {
 public:
  ProgressLine(const std::string& label, uint64_t size);
  ~ProgressLine();
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;
  void done(const std::string& status = "done");

 private:
  Progress* p_ = nullptr;
  size_t index_ = 0;
  ProgressLine* prev_ = nullptr;
};

// n more bytes copied for the current line of this thread, if there is one.
void progress_bytes(uint64_t n);

}  // namespace vessel
