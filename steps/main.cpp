#include <iostream>

#include "steps/cli.hpp"

int main(int argc, char** argv) { return fa::run_cli(argc, argv, std::cout, std::cerr); }
