#include "sim/cli/cli.h"

int main(int argc, char** argv) { return moesim::cli::main(argc, argv); }
