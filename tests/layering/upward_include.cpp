// Compiled against one layer's include root by tests/CMakeLists.txt: it includes a header of the
// scenario layer, so it must fail to compile from the engine layer's root (an upward include) and
// compile from the scenario layer's own root.
#include "sim/scenario/collectives.h"

int main() { return moesim::ring_allreduce_time(1.0, 1, 1.0, moesim::SimTime()).ps() == 0 ? 0 : 1; }
