#include "engine/stop_signals.h"

#include <csignal>
#include <initializer_list>

namespace sfm {

void install_stop_handler(void (*handler)(int)) {
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) std::signal(sig, handler);
}

}  // namespace sfm
