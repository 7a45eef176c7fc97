// The Go-template subset behind --format: output as Go's text/template gives it, and an error
// naming the line and column for anything outside the subset.
#include <gtest/gtest.h>

#include "util/error.h"
#include "util/go_template.h"

namespace vessel {
namespace {

using nlohmann::json;

json data() {
  return json::parse(R"({
    "Names": "web", "ID": "abc123", "Ports": "",
    "State": {"Status": "running", "Pid": 42, "Running": true, "Health": null},
    "Config": {"Env": ["A=1", "B=2"], "Labels": {"app": "shop", "tier": "db"}, "Cpus": 1.5},
    "List": [], "Mounts": [{"Source": "/a", "Destination": "/x"}, {"Source": "/b", "Destination": "/y"}],
    "Big": 1e21, "Small": 0.00001, "Million": 1000000.0
  })");
}

std::string run(const std::string& t, const json& d = data()) { return GoTemplate(t).render(d); }

std::string error_of(const std::string& t, const json& d = data()) {
  try {
    GoTemplate(t).render(d);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(GoTemplate, FieldsNestedFieldsAndVariables) {
  EXPECT_EQ(run("name={{.Names}} {{.State.Status}} pid={{.State.Pid}} {{.State.Running}}"),
            "name=web running pid=42 true");
  EXPECT_EQ(run("{{$x := .State}}{{$x.Status}}/{{$.ID}}"), "running/abc123");
  EXPECT_EQ(run("{{$x := 1}}{{$x = 2}}{{$x}}"), "2");
  EXPECT_EQ(run("{{(index .Mounts 1).Source}}"), "/b");
  EXPECT_EQ(run("{{.State.Health}}"), "<nil>");
  // A map (a key that cannot be a Go field name, or no keys) has no fields to miss: as Go's
  // maps, a missing key prints <no value>, and is false.
  EXPECT_EQ(run("{{.Config.Labels.none}}|{{.Config.Labels.none.deeper}}"), "<no value>|<no value>");
  EXPECT_EQ(run("{{if .Config.Labels.none}}y{{else}}n{{end}}"), "n");
}

TEST(GoTemplate, ValuesPrintAsGoFmtDoes) {
  EXPECT_EQ(run("{{.Config.Env}}"), "[A=1 B=2]");
  EXPECT_EQ(run("{{.Config.Labels}}"), "map[app:shop tier:db]");
  EXPECT_EQ(run("{{.Config.Cpus}} {{.Big}} {{.Small}} {{.Million}}"), "1.5 1e+21 1e-05 1000000");
  EXPECT_EQ(run("{{.List}}"), "[]");
}

TEST(GoTemplate, JsonFunction) {
  EXPECT_EQ(run("{{json .Config.Labels}}"), R"({"app":"shop","tier":"db"})");
  EXPECT_EQ(run("{{json .Names}}"), R"("web")");
  EXPECT_EQ(run("{{.Config.Env | json}}"), R"(["A=1","B=2"])");
}

TEST(GoTemplate, RangeIfElseWith) {
  EXPECT_EQ(run("{{range .Config.Env}}[{{.}}]{{end}}"), "[A=1][B=2]");
  EXPECT_EQ(run("{{range $i, $e := .Config.Env}}{{$i}}:{{$e}} {{end}}"), "0:A=1 1:B=2 ");
  EXPECT_EQ(run("{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}"), "app=shop;tier=db;");
  EXPECT_EQ(run("{{range .List}}x{{else}}empty{{end}}"), "empty");
  EXPECT_EQ(run("{{range .Mounts}}{{.Source}}->{{.Destination}} {{end}}"), "/a->/x /b->/y ");
  EXPECT_EQ(run("{{if .State.Running}}up{{else}}down{{end}}"), "up");
  EXPECT_EQ(run("{{if .Ports}}p{{else if eq .Names \"web\"}}w{{else}}n{{end}}"), "w");
  EXPECT_EQ(run("{{with .State}}{{.Status}}{{end}}{{with .List}}x{{else}}none{{end}}"),
            "runningnone");
  EXPECT_EQ(run("{{range .Config.Env}}{{if eq . \"B=2\"}}{{break}}{{end}}{{.}}{{end}}"), "A=1");
  EXPECT_EQ(run("{{range .Config.Env}}{{if eq . \"A=1\"}}{{continue}}{{end}}{{.}}{{end}}"), "B=2");
  // A variable declared in a block ends with it.
  EXPECT_EQ(error_of("{{if true}}{{$v := 1}}{{end}}{{$v}}"),
            "template: line 1, column 32: undefined variable \"$v\"");
}

TEST(GoTemplate, Functions) {
  EXPECT_EQ(run("{{join .Config.Env \",\"}}"), "A=1,B=2");
  EXPECT_EQ(run("{{index .Config.Labels \"app\"}}|{{index .Config.Labels \"none\"}}|"), "shop||");
  EXPECT_EQ(run("{{index .Config.Env 1}}"), "B=2");
  EXPECT_EQ(run("{{.Config.Labels.app | upper}} {{lower \"AbC\"}} {{title \"hello world\"}}"),
            "SHOP abc Hello World");
  EXPECT_EQ(run("{{len .Config.Env}} {{len .Names}} {{len .Config.Labels}}"), "2 3 2");
  EXPECT_EQ(run("{{printf \"%s-%d-%5s|%-4s|%.2f %v %q %%\" .Names .State.Pid \"ab\" \"c\" 1.5 "
                ".Config.Env \"q\"}}"),
            "web-42-   ab|c   |1.50 [A=1 B=2] \"q\" %");
  EXPECT_EQ(run("{{print 1 2 \"a\" \"b\"}}|{{println \"x\" 1}}"), "1 2ab|x 1\n");
  EXPECT_EQ(run("{{split \"a:b:c\" \":\"}} {{index (split \"a:b\" \":\") 1}}"), "[a b c] b");
  EXPECT_EQ(run("{{and 1 0}} {{or 0 \"\" \"x\"}} {{not .Ports}}"), "0 x true");
  EXPECT_EQ(run("{{eq .State.Pid 42}} {{ne .Names \"web\"}} {{lt 1 2}} {{ge 1.5 2}} {{eq 1 2 1}}"),
            "true false true false true");
  EXPECT_EQ(run("{{truncate .ID 3}} [{{pad .Names 1 2}}] {{slice .ID 1 3}}"), "abc [ web  ] bc");
  EXPECT_EQ(run("{{.Config.Labels | len | printf \"%03d\"}}"), "002");
}

// Found by fuzz-template (tests/fuzz): a negative pad count threw std::length_error (not an
// Error), a huge one or a huge printf width asked for gigabytes; %s cut text at 511 bytes; %c
// went through an invalid C format (%llc).
TEST(GoTemplate, PaddingAndWidthsAreBoundedAndTextIsNotCut) {
  EXPECT_NE(error_of("{{pad .Names -1 0}}").find("count -1 out of range"), std::string::npos);
  EXPECT_NE(error_of("{{pad .Names 0 99999999999}}").find("out of range"), std::string::npos);
  EXPECT_NE(error_of("{{printf \"%999999999s\" .Names}}").find("out of range"), std::string::npos);
  EXPECT_NE(error_of("{{printf \"%.99999f\" 1.5}}").find("out of range"), std::string::npos);
  std::string long_text(2000, 'x');
  EXPECT_EQ(run("{{printf \"%s|\" .T}}", json{{"T", long_text}}), long_text + "|");
  EXPECT_EQ(run("{{printf \"%6.2s|%-4s|\" \"abc\" \"d\"}}"), "    ab|d   |");
  EXPECT_EQ(run("{{printf \"%c%c%3c\" 65 233 66}}"), "A\xc3\xa9  B");
  EXPECT_EQ(run("{{printf \"%.2f\" 1e308}}").size(), 312u);
}

TEST(GoTemplate, TrimMarkersAndComments) {
  EXPECT_EQ(run("a  {{- .Names -}}  \n b{{/* note */}}c"), "awebbc");
  EXPECT_EQ(run("{{range .Config.Env -}}\n  {{.}}\n{{- end}}"), "A=1B=2");
}

TEST(GoTemplate, ErrorsNameTheLineAndColumn) {
  EXPECT_EQ(error_of("{{.Names}} {{.Nope}}"),
            "template: line 1, column 14: at <.Nope>: no field \"Nope\" (the fields here: Big, "
            "Config, ID, List, Million, Mounts, Names, Ports, Small, State)");
  EXPECT_EQ(error_of("x\n  {{.State.Pid.X}}"),
            "template: line 2, column 5: at <.State.Pid.X>: can't evaluate field X in int value");
  EXPECT_EQ(error_of("{{foo .Names}}"), "template: line 1, column 3: function \"foo\" not defined");
  EXPECT_EQ(error_of("{{if .Names}}x"),
            "template: line 1, column 1: {{if}} has no matching {{end}}");
  EXPECT_EQ(error_of("{{end}}"), "template: line 1, column 1: unexpected {{end}}");
  EXPECT_EQ(error_of("{{template \"x\"}}"),
            "template: line 1, column 1: {{template}} is not supported");
  EXPECT_EQ(error_of("{{.Names"), "template: line 1, column 1: unclosed action");
  EXPECT_EQ(error_of("{{}}"), "template: line 1, column 3: missing value for command");
  EXPECT_EQ(error_of("{{join .Names \",\"}}"),
            "template: line 1, column 3: at <join>: join wants a list, got web (string)");
  EXPECT_EQ(error_of("{{index .Config.Env 5}}"),
            "template: line 1, column 3: at <index>: index out of range: 5");
  EXPECT_EQ(error_of("{{range .Names}}{{end}}"),
            "template: line 1, column 1: range can't iterate over web (string)");
  EXPECT_EQ(error_of("{{break}}"), "template: line 1, column 1: {{break}} outside {{range}}");
  EXPECT_EQ(
      error_of("{{eq .Names 1}}"),
      "template: line 1, column 3: at <eq>: incompatible types for comparison: string and int");
  EXPECT_EQ(error_of("{{printf \"%d\" .Names}}"),
            "template: line 1, column 3: at <printf>: %d does not fit web (string)");
  EXPECT_EQ(
      error_of("{{upper}}"),
      "template: line 1, column 3: at <upper>: wrong number of arguments for upper: want 1, got 0");
  EXPECT_EQ(error_of("{{.Names \"x\"}}"),
            "template: line 1, column 3: at <.Names>: can't give arguments to a non-function");
  EXPECT_EQ(error_of("{{\"abc}}"), "template: line 1, column 3: unterminated string");
  EXPECT_EQ(error_of("{{.Names & 1}}"),
            "template: line 1, column 10: unexpected character '&' in action");
}

TEST(GoTemplate, TableFormatsAsDocker) {
  auto s = parse_format("table {{.ID}}\\t{{.Names}}");
  EXPECT_TRUE(s.table);
  EXPECT_EQ(s.text, "{{.ID}}\t{{.Names}}");
  EXPECT_FALSE(parse_format("{{.ID}}").table);
  EXPECT_TRUE(parse_format("table").table);
  EXPECT_EQ(parse_format("table").text, "");
  EXPECT_FALSE(parse_format("tablespoon").table);
  json rows = json::array({{{"ID", "abc"}, {"Names", "web"}, {"Label", {{"k", "v"}}}},
                           {{"ID", "defghijklmnopq"}, {"Names", "db"}, {"Label", json::object()}}});
  json headers = {{"ID", "CONTAINER ID"}, {"Names", "NAMES"}, {"Label", "LABEL"}};
  EXPECT_EQ(format_rows(parse_format("table {{.ID}}\\t{{.Names | upper}}"), rows, headers),
            "CONTAINER ID     NAMES\n"
            "abc              WEB\n"
            "defghijklmnopq   DB\n");
  EXPECT_EQ(format_rows(parse_format("{{.Names}}:{{.Label \"k\"}}"), rows, headers),
            "web:v\ndb:\n");
  EXPECT_EQ(tabwrite("a\tb\tc\nlonger-than-ten\tx\n"),
            "a                 b         c\nlonger-than-ten   x\n");
}

}  // namespace
}  // namespace vessel
