// Shared by the runtime's lifecycle (container.cc) and create path (container_create.cc);
// not part of the runtime's interface.
#pragma once

#include <string>
#include <vector>

#include "oci/spec.h"
#include "runtime/container.h"
#include "runtime/state_store.h"
#include "util/fd.h"

namespace vessel::runtime {

// A container create_container made, still locked by this process (`dir`) until it returns it.
struct CreatedContainer {
  ContainerDir dir;
  ContainerRecord rec;
  UniqueFd pty_master;
  UniqueFd start_conn;  // held: this process's end of the release channel
  bool record_saved = true;
  std::vector<oci::Hook> poststart;
};

// state.json's JSON for the record with this status, as `state` prints it and hooks read it.
std::string state_json(const ContainerRecord& rec, const std::string& status);

}  // namespace vessel::runtime
