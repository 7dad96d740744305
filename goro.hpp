// goro — Go's concurrency model for C++20. The umbrella header:
//
//     #include <goro/goro.hpp>
#pragma once

#include "runtime/blocking.hpp"
#include "runtime/error.hpp"
#include "runtime/go.hpp"
#include "runtime/group.hpp"
#include "runtime/result.hpp"
#include "runtime/run.hpp"
#include "runtime/sleep.hpp"
#include "runtime/task.hpp"
#include "runtime/yield.hpp"
