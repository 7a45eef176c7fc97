// The HTTP side of the Docker Engine API server (vessel system service): a parsed request,
// the client connection a handler answers on (plain, streamed or hijacked), and the errors
// that carry docker's status codes.
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

namespace vessel::api {

// An error with the HTTP status it answers with (docker's: 400 bad parameter, 404 no such
// object, 409 conflict, 500 anything else); the body is {"message": what()}.
class ApiError : public std::runtime_error {
 public:
  ApiError(int status, const std::string& msg) : std::runtime_error(msg), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

struct Request {
  std::string method;
  std::string path;                            // without the /v1.xx prefix and the query
  std::string api_version;                     // "1.41", or the prefix the client asked for
  std::map<std::string, std::string> query;    // decoded
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  // Bytes the client sent after the request (read ahead by the parser): the start of a
  // hijacked stream.
  std::string pending_input;

  std::string header(const std::string& name) const;
  bool has(const std::string& key) const { return query.count(key) > 0; }
  std::string q(const std::string& key, const std::string& def = "") const;
  // "1", "true", "True" are true; "0", "false", "" false; anything else is a 400.
  bool q_bool(const std::string& key, bool def = false) const;
  long q_int(const std::string& key, long def) const;
  // The body as JSON (an empty body is an empty object); a parse error is a 400.
  nlohmann::json json_body() const;
};

// One client connection. A handler answers once: respond(), or a stream (begin_stream,
// write..., end_stream), or hijack() and then the raw socket.
class Conn {
 public:
  explicit Conn(int fd) : fd_(fd) {}
  int fd() const { return fd_; }
  bool answered() const { return answered_; }

  void respond(int status, const std::string& content_type, const std::string& body);
  void json(int status, const nlohmann::json& j) { respond(status, "application/json", j.dump()); }
  void empty(int status) { respond(status, "", ""); }
  // A chunked response; write() returns false once the client is gone.
  void begin_stream(int status, const std::string& content_type);
  bool write(const std::string& data);
  void end_stream();
  // Takes the connection over: "101 UPGRADED" when the client asked for an upgrade, else a
  // 200 with no length; from then on the socket carries the raw stream both ways.
  void hijack(const Request& req, const std::string& content_type);
  bool write_raw(const std::string& data);
  // A chunked response of what `producer` writes on the descriptor it is given (run in a
  // thread of its own, with SIGPIPE blocked: a client that goes away makes its writes fail with
  // EPIPE). False when the client went away or the producer threw; the connection is then
  // closed without the last chunk, so that the client sees a cut stream.
  bool stream_from(int status, const std::string& content_type,
                   const std::function<void(int fd)>& producer);
  // Whether the client closed its side (a poll with no wait); for streams that have nothing
  // to write for a while.
  bool peer_closed() const;
  bool keep_alive = true;
  bool head_only = false;     // a HEAD request: headers, no body
  std::string extra_headers;  // "Name: value\r\n" lines added to the answer's head

 private:
  void send_head(int status, const std::string& extra_headers);
  int fd_;
  bool answered_ = false;
  bool chunked_ = false;
};

const char* status_text(int status);

}  // namespace vessel::api
