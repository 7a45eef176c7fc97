#include <gtest/gtest.h>

#include <map>

#include "image/dockerfile.h"
#include "util/error.h"

namespace vessel::image::dockerfile {
namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

Lookup vars(std::map<std::string, std::string> m) {
  return [m](const std::string& n) -> std::optional<std::string> {
    auto it = m.find(n);
    if (it == m.end()) return std::nullopt;
    return it->second;
  };
}

TEST(Dockerfile, ContinuationsCommentsAndLines) {
  auto f = parse(
      "# a comment\n"
      "FROM busybox AS base\n"
      "\n"
      "RUN echo one \\\n"
      "  # a comment inside\n"
      "  && echo two\n"
      "  # trailing\n"
      "env A=1\n",
      "Containerfile");
  ASSERT_EQ(f.instructions.size(), 3u);
  EXPECT_EQ(f.instructions[0].keyword, "FROM");
  EXPECT_EQ(f.instructions[0].line, 2);
  EXPECT_EQ(f.instructions[1].keyword, "RUN");
  EXPECT_EQ(f.instructions[1].args, "echo one && echo two");
  EXPECT_EQ(f.instructions[1].line, 4);
  EXPECT_FALSE(f.instructions[1].json);
  EXPECT_EQ(f.instructions[2].keyword, "ENV");
  EXPECT_EQ(f.instructions[2].line, 8);
}

TEST(Dockerfile, EscapeDirective) {
  auto f = parse("# escape=`\nFROM busybox\nRUN dir c:\\ `\n  && echo x\n");
  EXPECT_EQ(f.escape, '`');
  ASSERT_EQ(f.instructions.size(), 2u);
  EXPECT_EQ(f.instructions[1].args, "dir c:\\ && echo x");
  // Not at the top: an ordinary comment.
  auto g = parse("FROM busybox\n# escape=`\nRUN a \\\n b\n");
  EXPECT_EQ(g.escape, '\\');
  EXPECT_EQ(g.instructions[1].args, "a b");
}

TEST(Dockerfile, ExecAndShellForms) {
  auto f = parse(
      "FROM busybox\nCMD [\"echo\", \"hi there\"]\nENTRYPOINT echo hi\nRUN [not json\n"
      "COPY --chown=1:2 --from=base [\"a b\", \"/c\"]\n");
  ASSERT_TRUE(f.instructions[1].json);
  EXPECT_EQ(*f.instructions[1].json, (std::vector<std::string>{"echo", "hi there"}));
  EXPECT_FALSE(f.instructions[2].json);
  EXPECT_EQ(command(f.instructions[2], {"/bin/sh", "-c"}),
            (std::vector<std::string>{"/bin/sh", "-c", "echo hi"}));
  EXPECT_FALSE(f.instructions[3].json) << "invalid JSON is the shell form";
  const auto& copy = f.instructions[4];
  EXPECT_EQ(copy.flag("chown"), "1:2");
  EXPECT_EQ(copy.flag("from"), "base");
  ASSERT_TRUE(copy.json);
  EXPECT_EQ(copy.json->at(0), "a b");
}

TEST(Dockerfile, Errors) {
  EXPECT_EQ(error_of([] { parse("FROM busybox\n\nFOO bar\n", "Containerfile"); }),
            "Containerfile:3: unknown instruction \"FOO\"");
  EXPECT_EQ(error_of([] { parse("FROM busybox\nRUN <<EOF\necho\nEOF\n", "Dockerfile"); }),
            "Dockerfile:2: heredocs (<<EOF) are not supported: write the lines out, or COPY a "
            "file");
  EXPECT_EQ(error_of([] { parse("RUN echo\nFROM busybox\n"); }),
            "Containerfile:1: RUN before the first FROM (only ARG may come before it)");
  EXPECT_EQ(error_of([] { parse("# nothing\n"); }), "Containerfile: no FROM instruction");
  EXPECT_EQ(error_of([] { parse("FROM busybox\nENV\n"); }), "Containerfile:2: ENV needs arguments");
  // A shell redirection is no heredoc.
  EXPECT_NO_THROW(parse("FROM busybox\nRUN cat << 3\n"));
}

TEST(Dockerfile, ArgsBeforeAndAfterFrom) {
  auto f = parse("ARG BASE=busybox\nARG V\nFROM ${BASE}\nARG V\nARG W=2\n");
  ASSERT_EQ(f.instructions.size(), 5u);
  EXPECT_EQ(f.instructions[0].keyword, "ARG");
  auto kv = key_values("ARG", "A=1 B", vars({}));
  ASSERT_EQ(kv.size(), 2u);
  EXPECT_EQ(kv[0].first, "A");
  EXPECT_EQ(kv[0].second, "1");
  EXPECT_EQ(kv[1].first, "B");
  EXPECT_FALSE(kv[1].second);
}

TEST(Dockerfile, Substitution) {
  auto v = vars({{"A", "x"}, {"EMPTY", ""}, {"SP", "a b"}});
  EXPECT_EQ(expand("$A ${A}/y", v), "x x/y");
  EXPECT_EQ(expand("${NOPE:-def}", v), "def");
  EXPECT_EQ(expand("${EMPTY:-def}", v), "def");
  EXPECT_EQ(expand("${EMPTY-def}", v), "");
  EXPECT_EQ(expand("${A:-def}", v), "x");
  EXPECT_EQ(expand("${A:+alt}", v), "alt");
  EXPECT_EQ(expand("${NOPE:+alt}", v), "");
  EXPECT_EQ(expand("${NOPE:-$A}", v), "x");
  EXPECT_EQ(expand("'$A' \"$A\" \\$A", v), "$A x $A");
  // A substituted value is one word, spaces and all.
  EXPECT_EQ(words("$SP 'c d' e\\ f", v), (std::vector<std::string>{"a b", "c d", "e f"}));
  EXPECT_EQ(expand("cost: $", v), "cost: $");
  EXPECT_NE(error_of([&] { expand("${A", v); }), "");
}

TEST(Dockerfile, KeyValues) {
  auto v = vars({{"A", "x"}});
  auto kv = key_values("ENV", "K=\"a b\" L=$A M=${A}y", v);
  ASSERT_EQ(kv.size(), 3u);
  EXPECT_EQ(kv[0].second, "a b");
  EXPECT_EQ(kv[1].second, "x");
  EXPECT_EQ(kv[2].second, "xy");
  auto old = key_values("ENV", "K some  value", v);
  ASSERT_EQ(old.size(), 1u);
  EXPECT_EQ(old[0].first, "K");
  EXPECT_EQ(old[0].second, "some  value");
  EXPECT_NE(error_of([&] { key_values("LABEL", "a=1 b", v); }), "");
}

}  // namespace
}  // namespace vessel::image::dockerfile
