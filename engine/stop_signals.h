#pragma once
// The signals that ask a long command (train, synth, demo) to stop cleanly: SIGINT (Ctrl-C),
// SIGTERM (kill, a scheduler) and SIGHUP (the terminal or ssh session closed). One list, so every
// command treats a closed terminal like Ctrl-C: finish the work in progress, save or clean up.
namespace sfm {

// Installs handler (async-signal-safe: it should only set a flag) for each of them.
void install_stop_handler(void (*handler)(int));

// For a command whose work is a list of jobs (sfm prepare): install_stop_flag() makes the stop
// signals set one process-wide flag, which the job loop reads with stop_requested() before each
// job and then gives up, so what was staged (OUT.tmp-*) is removed on the way out.
void install_stop_flag();
bool stop_requested();

}  // namespace sfm
