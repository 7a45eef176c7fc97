// The API's routes: each endpoint group registers its handlers; handle() matches a request
// to one and turns exceptions into docker's error answers.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "api/http.h"
#include "manager/store.h"

namespace vessel::api {

using Params = std::map<std::string, std::string>;
using Handler = std::function<void(manager::Store&, const Request&, Conn&, const Params&)>;

// pattern: "/containers/{id}/json"; "{name*}" takes one or more segments (image names).
struct Route {
  std::string method;
  std::string pattern;
  Handler fn;
};

void add_system_routes(std::vector<Route>& r);     // _ping, version, info, system df
void add_container_routes(std::vector<Route>& r);  // create, list, inspect, lifecycle
void add_stream_routes(std::vector<Route>& r);     // logs, attach, exec
void add_image_routes(std::vector<Route>& r);
void add_object_routes(std::vector<Route>& r);  // volumes, networks
void add_exec_routes(std::vector<Route>& r);
void add_file_routes(std::vector<Route>& r);      // archive, export, changes, commit
void add_image_io_routes(std::vector<Route>& r);  // push, load, get (save), build
void add_event_routes(std::vector<Route>& r);     // events
void add_stats_routes(std::vector<Route>& r);     // containers' stats
// Starts a container, handing its stream to an attach that waits for the start (streams.cc).
void start_with_attach(manager::Store& store, const std::string& id);
// Exit codes seen on monitors' streams (attach, wait): a container removed at its exit
// (AutoRemove) still answers its wait with its code.
void note_exit(const std::string& id, int code);
std::optional<int> noted_exit(const std::string& id);

void handle(manager::Store& store, Request& req, Conn& conn);

// The status of an error message from the manager: 404 for "no such …", 409 for conflicts
// (in use, already running, not running…), else 500.
int status_for(const std::string& message);

}  // namespace vessel::api
