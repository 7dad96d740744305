// In-tree and subproject builds: makes <goro/goro.hpp> resolve to the
// umbrella header at the top of the source tree (an installed goro has the
// real file here instead).
#pragma once
#include "../../goro.hpp"
