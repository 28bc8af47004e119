// The pod sandbox's PID 1, like Kubernetes' pause image: it holds the pod's namespaces, reaps
// orphaned children, and exits 0 when the runtime stops the sandbox. Built statically by
// scripts/lib/cluster/node-images.ts into a FROM-scratch image: no registry serves one here.
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
static void stop(int sig) { (void)sig; _exit(0); }
static void reap(int sig) { (void)sig; while (waitpid(-1, NULL, WNOHANG) > 0) {} }
int main(void) {
  struct sigaction s = {0};
  s.sa_handler = stop; sigaction(SIGINT, &s, NULL); sigaction(SIGTERM, &s, NULL);
  s.sa_handler = reap; s.sa_flags = SA_NOCLDSTOP; sigaction(SIGCHLD, &s, NULL);
  for (;;) pause();
}
