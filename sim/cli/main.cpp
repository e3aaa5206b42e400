#include "sim/cli/cli.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

int main(int argc, char** argv) {
#if defined(__GLIBC__)
  // Keep freed memory in the process: an all-to-all's flow set at EP320 is about 7 MB, built and
  // freed per collective; glibc served each from fresh pages (mmap, or a heap trimmed back to the
  // kernel), and the page faults were a sixth of an EP320 decode step with planned_layers=4.
  // Blocks below 64 MiB now come from the heap and it is not trimmed below 256 MiB of free space.
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
  return moesim::cli::main(argc, argv);
}
