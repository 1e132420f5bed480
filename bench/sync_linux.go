package bench

import "syscall"

// syncFlag makes every write durable before it returns.
const syncFlag = syscall.O_DSYNC
