#include "engine/stop_signals.h"

#include <csignal>
#include <initializer_list>

namespace sfm {

void install_stop_handler(void (*handler)(int)) {
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) std::signal(sig, handler);
}

namespace {
volatile std::sig_atomic_t g_stop_requested = 0;
void on_stop_signal(int) { g_stop_requested = 1; }
}  // namespace

void install_stop_flag() { install_stop_handler(on_stop_signal); }
bool stop_requested() { return g_stop_requested != 0; }

}  // namespace sfm
