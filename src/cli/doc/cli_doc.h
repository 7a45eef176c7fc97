// Documentation generated from a program's CLI11 definitions, so that it cannot drift from
// --help: roff man pages (one per command) and the word lists shell completion offers.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

namespace vessel::cli::doc {

// Writes one man page per command of `app` into `dir`: PROGRAM.SECTION for the program and
// PROGRAM-CMD[-SUB].SECTION for each visible command. Returns the files written.
std::vector<std::string> write_man_pages(const CLI::App& app, const std::string& program,
                                         int section, const std::string& version,
                                         const std::string& dir);

// The roff text of one command's page (`path`: the command words after the program).
std::string man_page(const CLI::App& cmd, const std::string& program,
                     const std::vector<std::string>& path, int section, const std::string& version);

// What completes the last of `words` (the words typed after the program; the last one is the
// word being completed, possibly empty). Commands and options come from the CLI11 tree; a
// positional argument is handed to `dynamic` with its kind ("containers", "images", "volumes",
// "networks"), which returns the names. The special result ":files" asks the shell for file
// names.
using DynamicNames = std::function<std::vector<std::string>(const std::string& kind)>;
std::vector<std::string> complete(const CLI::App& app, const std::vector<std::string>& words,
                                  const DynamicNames& dynamic);

// The arguments of a command that takes them raw (CLI11's prefix_command: run's IMAGE
// [COMMAND...]), as its description names them after its last ": ".
std::vector<std::string> prefix_arguments(const CLI::App& cmd);

// The shell glue that asks `PROGRAM __complete WORDS...` (bash or zsh).
std::string completion_script(const std::string& program, const std::string& shell);

}  // namespace vessel::cli::doc
