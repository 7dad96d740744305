// goro — Go's concurrency model for C++20. The umbrella header:
//
//     #include <goro/goro.hpp>
#pragma once

#include "runtime/blocking.hpp"
#include "runtime/channel.hpp"
#include "runtime/cond.hpp"
#include "runtime/context.hpp"
#include "runtime/error.hpp"
#include "runtime/go.hpp"
#include "runtime/group.hpp"
#include "runtime/mutex.hpp"
#include "runtime/once.hpp"
#include "runtime/result.hpp"
#include "runtime/run.hpp"
#include "runtime/rw_mutex.hpp"
#include "runtime/select.hpp"
#include "runtime/semaphore.hpp"
#include "runtime/sleep.hpp"
#include "runtime/task.hpp"
#include "runtime/version.hpp"
#include "runtime/time.hpp"
#include "runtime/wait_group.hpp"
#include "runtime/yield.hpp"
#include "io/bufio.hpp"
#include "io/fs.hpp"
#include "io/io_error.hpp"
#include "io/net.hpp"
