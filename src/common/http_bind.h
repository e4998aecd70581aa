// Binding an httplib server the way each of trainyard's HTTP servers does (header only: the
// libraries that use it already link httplib, ty_common does not).
#pragma once

#include <sys/socket.h>

#include <memory>
#include <string>

namespace trainyard {

// Binds `server` (an httplib::Server or SSLServer) to host:port, or to a free port when port is 0,
// and returns the port, or -1 when the address is in use or not one of this machine's.
// - Only SO_REUSEADDR: httplib's default options add SO_REUSEPORT, with which a second server
//   would silently share a port already in use instead of failing to start.
// - The listen backlog becomes SOMAXCONN. httplib compiles in 5 (CPPHTTPLIB_LISTEN_BACKLOG), and
//   clients connecting at once overflow it (the kernel's ListenOverflows): 16 kept-alive clients
//   of the model server on a loaded 2-core machine lost a request in one run of five to a failed
//   read; 200 log followers lost connections every time. listen() again on the bound socket only
//   widens the queue.
template <class HttpServer>
int BindHttpServer(HttpServer& server, const std::string& host, int port) {
  auto listen_fd = std::make_shared<int>(-1);
  server.set_socket_options([listen_fd](int fd) {
    int yes = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    *listen_fd = fd;  // httplib tries each address in turn; the last one tried is the bound one
  });
  int bound =
      port == 0 ? server.bind_to_any_port(host) : (server.bind_to_port(host, port) ? port : -1);
  if (bound > 0 && *listen_fd >= 0) listen(*listen_fd, SOMAXCONN);
  return bound;
}

}  // namespace trainyard
